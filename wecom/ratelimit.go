package wecom

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/retry"
)

// limiter allows n sends per window. Each send reserves the earliest free
// time, so concurrent senders queue fairly instead of waking in a herd; a
// wait that is cancelled hands its reservation back.
type limiter struct {
	mu     sync.Mutex
	n      int
	times  []int64 // unix nanos of sends in the last window and reserved ones, sorted
	window time.Duration
	now    func() time.Time
}

func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	if n <= 0 {
		return nil
	}
	return &limiter{n: n, window: window, now: now}
}

// reserve books the earliest time at which a send keeps every window of the
// limiter's length under n sends, if waiting for it fits ctx's deadline.
func (l *limiter) reserve(ctx context.Context) (at int64, delay time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UnixNano()
	old := 0
	for old < len(l.times) && l.times[old] <= now-int64(l.window) {
		old++
	}
	l.times = l.times[old:]
	at = now
	if k := len(l.times); k >= l.n {
		// The n-th latest send, plus a window: no window then holds more
		// than n, future reservations included.
		at = max(now, l.times[k-l.n]+int64(l.window))
	}
	delay = time.Duration(at - now)
	// The delay comes from the limiter's clock; the deadline is real time.
	if !retry.Fits(ctx, delay) {
		return 0, delay, false
	}
	i, _ := slices.BinarySearch(l.times, at)
	l.times = slices.Insert(l.times, i, at)
	return at, delay, true
}

// release hands back a reservation that was never used.
func (l *limiter) release(at int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, found := slices.BinarySearch(l.times, at); found {
		l.times = slices.Delete(l.times, i, i+1)
	}
}

// wait blocks until a send may go. When the wait would pass ctx's deadline
// it takes nothing and returns ErrRateLimited at once; when ctx ends while
// waiting, the reservation goes back to the next sender.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	at, delay, ok := l.reserve(ctx)
	if !ok {
		// Refused by the client: WeCom said nothing.
		return &middleware.LimitError{Backend: IM, RetryAfter: delay,
			Reason: fmt.Sprintf("%d messages per %s used; the next slot is past the deadline", l.n, l.window)}
	}
	if err := retry.Sleep(ctx, delay); err != nil {
		l.release(at)
		return err
	}
	return nil
}

// inflight serializes requests with identical bodies: WeCom refuses a body
// that is already in flight (45033).
// Bodies are keyed by maphash: a collision only serializes two different
// bodies, which is harmless, and hashing a 3 MB image body costs little.
type inflight struct {
	seed maphash.Seed
	mu   sync.Mutex
	busy map[uint64]chan struct{}
}

func newInflight() *inflight {
	return &inflight{seed: maphash.MakeSeed(), busy: make(map[uint64]chan struct{})}
}

// acquire waits until no request with the same body is in flight.
func (f *inflight) acquire(ctx context.Context, body []byte) (release func(), err error) {
	h := maphash.Bytes(f.seed, body)
	for {
		f.mu.Lock()
		ch, ok := f.busy[h]
		if !ok {
			ch = make(chan struct{})
			f.busy[h] = ch
			f.mu.Unlock()
			return func() {
				f.mu.Lock()
				delete(f.busy, h)
				f.mu.Unlock()
				close(ch)
			}, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
