package imtest_test

import (
	"context"
	"fmt"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
)

func ExampleRecorder() {
	rec := imtest.NewRecorder()
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "bot", IM: "qq", Backend: rec}))

	_, _ = c.PushFile(context.Background(), "qq", "123456", "", "Daily file", "base64://YSxiCjEsMgo=", middleware.WithFilename("daily.csv"))

	m, _ := rec.Last()
	fmt.Println(m.AccountID, m.GroupCode, m.Names[0], m.MIMEs[0], len(m.Media[0]))
	// Output: bot 123456 daily.csv text/csv 8
}
