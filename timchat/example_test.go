package timchat_test

import (
	"context"
	"fmt"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
)

func ExampleNew() {
	tim := imtest.NewTIM(imtest.WithTIMApp(1400000000, "secret-key", "administrator")) // stands in for the REST API
	defer tim.Close()
	host := imtest.NewMediaHost() // stands in for COS or S3
	defer host.Close()

	tc, err := timchat.New(timchat.Config{SDKAppID: 1400000000, SecretKey: "secret-key", Admin: "administrator", BaseURL: tim.URL},
		timchat.WithUploader(host))
	if err != nil {
		panic(err)
	}
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "im", IM: "tim", Default: true, Backend: tc}))

	ctx := context.Background()
	n, err := c.Push(ctx, "tim", "", "alice|bob", "Report", "all green")
	fmt.Println(n, err)
	n, err = c.PushMixed(ctx, "tim", "@TGS#team", "alice", "Chart", []middleware.Item{
		{Type: middleware.TextItem, Text: "today:"},
		{Type: middleware.FileItem, Data: []byte("date,deploys\n2026-11-27,3\n"), Name: "daily.csv"},
	})
	fmt.Println(n, err)
	_, err = c.Push(ctx, "tim", "", "", "", "to nobody")
	fmt.Println(err)

	for _, m := range tim.Messages() {
		fmt.Println(m.API, m.To, m.Group, m.GroupAt, len(m.Elements))
	}
	// Output:
	// 2 <nil>
	// 1 <nil>
	// middleware: push to tim as im: middleware: invalid target: timchat: no groupCode or userID (use timchat.Broadcast to push to all users)
	// openim/batchsendmsg [alice bob]  [] 1
	// group_open_http_svc/send_group_msg [] @TGS#team [alice] 2
}
