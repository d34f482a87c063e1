// Package honesty holds the checks of the SDK's promise under time, shared
// by the tests of the backends and of the shared stores: a push is
// delivered and reported delivered, or refused before sending; never
// "maybe" because a slot came at its deadline.
package honesty

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
)

// Figures are what a saturation run came to.
type Figures struct {
	Pushes, Delivered, Refused, Maybe, Other int
	Arrived, Refused45009                    int
}

func (f Figures) String() string {
	return fmt.Sprintf("%d pushes: %d delivered, %d refused before sending, %d maybe delivered, %d other; %d arrived, %d answered 45009",
		f.Pushes, f.Delivered, f.Refused, f.Maybe, f.Other, f.Arrived, f.Refused45009)
}

// Saturate starts a push every interval, total in all, through the
// clients in turn (replicas sharing a budget, or one), each with timeout,
// and checks the promise: every push either delivered and reported so, or
// refused by the client before sending with a *middleware.LimitError; as
// many messages arrived as were reported delivered; none refused by the
// platform. Started faster than the budget allows, pushes meet slots at
// every distance from their deadlines.
func Saturate(t *testing.T, wc *imtest.WeCom, clients []*middleware.Client, total int, every, timeout time.Duration) Figures {
	t.Helper()
	var mu sync.Mutex
	f := Figures{Pushes: total}
	var wg sync.WaitGroup
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i%len(clients)]
			n, err := c.Push(context.Background(), "wecom", "", "", "", fmt.Sprintf("push %d", i), middleware.WithTimeout(timeout))
			var le *middleware.LimitError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && n >= 1:
				f.Delivered++
			case errors.As(err, &le) && !errors.Is(err, middleware.ErrMaybeDelivered):
				f.Refused++
			case errors.Is(err, middleware.ErrMaybeDelivered):
				f.Maybe++
				t.Errorf("push %d: %v", i, err)
			default:
				f.Other++
				t.Errorf("push %d: n=%d, %v", i, n, err)
			}
		}()
		<-tick.C
	}
	wg.Wait()
	f.Arrived, f.Refused45009 = len(wc.Messages()), wc.Answered(45009)
	if f.Arrived != f.Delivered {
		t.Errorf("%d messages arrived, %d pushes reported delivered", f.Arrived, f.Delivered)
	}
	if f.Refused45009 != 0 {
		t.Errorf("the platform refused %d sends for the rate", f.Refused45009)
	}
	if f.Delivered == 0 || f.Refused == 0 {
		t.Errorf("not saturated: %s", f)
	}
	t.Log(f)
	return f
}
