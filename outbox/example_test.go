package outbox_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/outbox"
)

// printBackend stands in for a platform: it prints what it would send.
type printBackend struct{}

func (printBackend) Send(_ context.Context, m *middleware.Message) (int, error) {
	fmt.Printf("-> %s: %q\n", m.GroupCode, m.Items[0].Text)
	return 1, nil
}

func Example() {
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{
		ID: "ops", IM: "wecom", Default: true, Backend: printBackend{},
	}))
	o, _ := outbox.New(c) // in memory; redisstate.NewOutboxStore keeps jobs across restarts
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- o.Run(ctx) }()

	id, err := o.Push(ctx, "wecom", "room1", "", "Alert", "disk /var is 91% full")
	if err != nil {
		panic(err)
	}
	st, _ := o.Wait(ctx, id)
	fmt.Println(st.State, st.Sent)

	// Checked when queued, as the helpers check before sending.
	_, err = o.Push(ctx, "wecom", "room1", "", "", "")
	fmt.Println(errors.Is(err, middleware.ErrInvalidItem))
	stop()
	<-done
	// Output:
	// -> room1: "disk /var is 91% full"
	// sent 1
	// true
}

// failing refuses every push for good: nothing is delivered.
type failing struct{}

func (failing) Send(context.Context, *middleware.Message) (int, error) {
	return 0, fmt.Errorf("%w: the platform said no", middleware.ErrInvalidItem)
}

// An Inspector needs only the store: list the dead letters, then resend or
// drop each.
func ExampleInspector() {
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Default: true, Backend: failing{}}))
	store := outbox.NewMemoryStore(0)
	o, _ := outbox.New(c, outbox.WithStore(store))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- o.Run(ctx) }()
	id, _ := o.Push(ctx, "wecom", "room1", "", "", "hello")
	_, _ = o.Wait(ctx, id)
	stop()
	<-done

	in, _ := outbox.NewInspector(store)
	dead, _ := in.DeadLetters(context.Background(), 10)
	for _, j := range dead {
		fmt.Println(j.State, j.IM, j.Account, j.GroupCode, j.Items, j.LastErrorClass)
	}
	fmt.Println(in.Drop(context.Background(), id))
	err := in.Drop(context.Background(), id)
	fmt.Println(errors.Is(err, outbox.ErrJobNotFound))
	// Output:
	// failed wecom ops room1 [text] invalid_item
	// <nil>
	// true
}
