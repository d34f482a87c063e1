package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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

// scriptedBackend answers each send with the next error of a script.
type scriptedBackend struct{ errs []error }

func (s *scriptedBackend) Send(context.Context, *middleware.Message) (int, error) {
	err := s.errs[0]
	s.errs = s.errs[1:]
	if pe, ok := err.(*middleware.PartialError); ok {
		return 1, pe
	}
	return 0, err
}

// Example_errors reads the three kinds of failure: a category (errors.Is),
// what the platform said (*APIError) or the client itself refused
// (*LimitError), and a partial delivery that says what is safe to resend.
func Example_errors() {
	b := &scriptedBackend{errs: []error{
		&middleware.APIError{Backend: "wecom", Code: 45009, Message: "api freq out of limit", Kind: middleware.ErrRateLimited, RetryAfter: time.Minute},
		&middleware.LimitError{Backend: "wecom", Reason: "20 messages per 1m0s used", RetryAfter: 3 * time.Second},
		&middleware.PartialError{DeliveredItems: []int{0}, FailedItem: 1, MaybeDelivered: true, SentParts: 1,
			Err: fmt.Errorf("wecom: %w (not retried): timeout", middleware.ErrMaybeDelivered)},
		&middleware.PartialError{DeliveredItems: []int{0}, FailedItem: 1, SentParts: 1,
			Err: &middleware.APIError{Backend: "wecom", Code: 40058, Message: "invalid parameter", Kind: middleware.ErrTooLarge}},
	}}
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Default: true, Backend: b}))
	ctx := context.Background()
	items := []middleware.Item{
		{Type: middleware.TextItem, Text: "Report"},
		{Type: middleware.FileItem, Data: []byte("a,b\n1,2\n"), Name: "r.csv"},
		{Type: middleware.TextItem, Text: "Questions: ask ops"},
	}
	for range 4 {
		_, err := c.PushMixed(ctx, "wecom", "room1", "", "", items)
		var api *middleware.APIError
		var pe *middleware.PartialError
		switch {
		case errors.As(err, &pe):
			// Resend what surely did not arrive; skip what may have.
			var resend []int
			for i := range items {
				if slices.Contains(pe.DeliveredItems, i) || (i == pe.FailedItem && pe.MaybeDelivered) {
					continue
				}
				resend = append(resend, i)
			}
			fmt.Println("partial: resend items", resend)
		case errors.Is(err, middleware.ErrRateLimited):
			d, _ := middleware.RetryAfter(err)
			who := "the client"
			if errors.As(err, &api) {
				who = fmt.Sprintf("%s (code %d)", api.Backend, api.Code)
			}
			fmt.Printf("rate limited by %s: retry in %s\n", who, d)
		}
	}
	// Output:
	// rate limited by wecom (code 45009): retry in 1m0s
	// rate limited by the client: retry in 3s
	// partial: resend items [2]
	// partial: resend items [1 2]
}

// A Request is a helper call as a value: Check runs the helper's checks
// without I/O, Do sends it. Code that keeps pushes for later stores one.
func ExampleClient_Do() {
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{
		ID: "ops", IM: "wecom", Default: true, Backend: printBackend{"ops"},
	}))
	ctx := context.Background()
	r := middleware.Request{Helper: middleware.HelperPush, IM: "wecom", GroupCode: "room1", Title: "Alert",
		Content: "disk /var is 91% full", Options: []middleware.Option{middleware.WithField("safe", 1)}}
	chk, err := c.Check(ctx, r)
	if err != nil {
		panic(err)
	}
	fmt.Println("from", chk.Account.ID, "with fields", chk.Settings.Fields)
	n, err := c.Do(ctx, r)
	fmt.Println(n, err)

	r.Helper = middleware.HelperImage
	r.Content = " "
	_, err = c.Check(ctx, r)
	fmt.Println(err)
	// Output:
	// from ops with fields map[safe:1]
	// ops -> group "room1" user "": text "disk /var is 91% full"
	// 1 <nil>
	// middleware: pushImage to wecom: middleware: invalid item: imageURL is empty
}

// pushCounter counts pushes by outcome; NoopObserver covers the rest of
// Observer, and whatever Observer gains later.
type pushCounter struct {
	middleware.NoopObserver
	sent, failed int
}

func (p *pushCounter) PushEnd(_ context.Context, _ middleware.PushInfo, r middleware.PushResult) {
	if r.Err != nil {
		p.failed++
		return
	}
	p.sent++
}

func ExampleNoopObserver() {
	counter := &pushCounter{}
	c, _ := middleware.NewClient(middleware.WithObserver(counter), middleware.WithAccount(middleware.Account{
		ID: "ops", IM: "wecom", Default: true, Backend: printBackend{"ops"},
	}))
	ctx := context.Background()
	_, _ = c.Push(ctx, "wecom", "room1", "", "", "deploy finished")
	_, _ = c.Push(ctx, "wecom", "room1", "", "", "") // refused: nothing to say
	fmt.Println("sent", counter.sent, "failed", counter.failed)
	// Output:
	// ops -> group "room1" user "": text "deploy finished"
	// sent 1 failed 1
}
