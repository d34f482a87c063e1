package middleware_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/imbridge/middleware"
)

// printBackend stands in for wecom or timchat: it prints what it would send.
type printBackend struct{ name string }

func (p printBackend) Send(_ context.Context, m *middleware.Message) (int, error) {
	for _, it := range m.Items {
		if it.Type.IsMedia() {
			fmt.Printf("%s -> group %q user %q: %s %s\n", p.name, m.GroupCode, m.UserID, it.Type, it.Source)
			continue
		}
		fmt.Printf("%s -> group %q user %q: %s %q\n", p.name, m.GroupCode, m.UserID, it.Type, it.Text)
	}
	return len(m.Groups()) + len(m.Users()), nil
}

func ExampleClient_Push() {
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{
		ID: "ops", IM: "wecom", Default: true, Backend: printBackend{"ops"},
	}))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	n, err := c.Push(ctx, "wecom", "room1", "", "Daily report", "Tasks done today")
	fmt.Println(n, err)

	// Empty content falls back to the title; nothing at all is an error.
	n, err = c.Push(ctx, "wecom", "room1", "", "", "")
	fmt.Println(n, errors.Is(err, middleware.ErrInvalidItem))
	// Output:
	// ops -> group "room1" user "": text "Tasks done today"
	// 1 <nil>
	// 0 true
}

func ExampleClient_PushMixed() {
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{
		ID: "ops", IM: "wecom", Default: true, Backend: printBackend{"ops"},
	}))
	ctx := context.Background()
	n, err := c.PushMixed(ctx, "wecom", "room1", "", "Result", []middleware.Item{
		{Type: middleware.TextItem, Text: "Result:"},
		{Type: middleware.ImageItem, Source: "base64://iVBORw0KGgo="},
	})
	fmt.Println(n, err)

	// One bad item and nothing at all is sent.
	_, err = c.PushMixed(ctx, "wecom", "room1", "", "Result", []middleware.Item{
		{Type: middleware.TextItem, Text: "Result:"},
		{Type: middleware.ImageItem},
	})
	fmt.Println(err)
	// Output:
	// ops -> group "room1" user "": text "Result:"
	// ops -> group "room1" user "": image base64://iVBORw0KGgo=
	// 1 <nil>
	// middleware: pushMixed to wecom: item 1: middleware: invalid item: image item has neither Source nor Data
}

func ExampleClient_Resolve() {
	c, _ := middleware.NewClient(
		middleware.WithAccount(middleware.Account{ID: "qq-main", IM: "qq", Default: true, Backend: printBackend{"qq-main"}}),
		middleware.WithAccount(middleware.Account{ID: "qq-2", IM: "qq", Backend: printBackend{"qq-2"}}),
		middleware.WithAccount(middleware.Account{ID: "wx-main", IM: "weixin", Default: true, Backend: printBackend{"wx-main"}}),
	)
	show := func(ctx context.Context, im string, opts ...middleware.Option) {
		a, err := c.Resolve(ctx, im, opts...)
		fmt.Printf("%s: %s %v\n", im, a.ID, err)
	}
	cron := context.Background()
	show(cron, "qq", middleware.WithAccountID("qq-2")) // rule 1: explicit
	msg := middleware.WithOrigin(cron, middleware.Origin{Kind: middleware.OriginMessage, IM: "qq", AccountID: "qq-2"})
	show(msg, "qq")     // rule 2: the account the message came in on
	show(cron, "qq")    // rule 3: cron uses the default
	show(msg, "weixin") // rule 4: cross-IM uses the target's default
	_ = c.SetOnline("qq-main", false)
	show(cron, "qq")       // rule 5: first online account
	show(cron, "telegram") // nothing registered
	// Output:
	// qq: qq-2 <nil>
	// qq: qq-2 <nil>
	// qq: qq-main <nil>
	// weixin: wx-main <nil>
	// qq: qq-2 <nil>
	// telegram:  middleware: no account for this IM: "telegram"
}
