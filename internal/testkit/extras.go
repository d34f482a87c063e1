package testkit

import (
	"context"

	"github.com/imbridge/middleware"
)

// ExtrasOf runs o on a push through a Client and returns what it put in
// Message.Extras, as a backend receives it.
func ExtrasOf(o middleware.Option) []any {
	var got []any
	be := middleware.Account{ID: "x", IM: "x", Default: true, Backend: recordExtras(func(m *middleware.Message) { got = m.Extras })}
	c, _ := middleware.NewClient(middleware.WithAccount(be))
	_, _ = c.Push(context.Background(), "x", "g", "", "", "t", o)
	return got
}

type recordExtras func(*middleware.Message)

func (f recordExtras) Send(_ context.Context, m *middleware.Message) (int, error) {
	f(m)
	return 1, nil
}
