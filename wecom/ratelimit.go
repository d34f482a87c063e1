package wecom

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/retry"
)

// limiter allows n sends per window. Each send reserves the earliest free
// slot, so concurrent senders queue fairly instead of waking in a herd.
type limiter struct {
	mu     sync.Mutex
	slots  []int64 // unix nanos of the last n sends, past or reserved
	next   int
	window time.Duration
	now    func() time.Time
}

func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	if n <= 0 {
		return nil
	}
	return &limiter{slots: make([]int64, n), window: window, now: now}
}

// wait blocks until a slot is free. When the wait would pass ctx's deadline
// it takes no slot and returns ErrRateLimited at once.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := l.now()
	at := now
	if free := time.Unix(0, l.slots[l.next]).Add(l.window); free.After(now) {
		at = free
	}
	delay := at.Sub(now)
	// The delay comes from the limiter's clock; the deadline is real time.
	if !retry.Fits(ctx, delay) {
		l.mu.Unlock()
		return &middleware.APIError{Backend: "wecom", Code: 45009, Kind: middleware.ErrRateLimited, RetryAfter: delay,
			Message: fmt.Sprintf("client-side pacing: %d messages per %s used; the next slot is past the deadline", len(l.slots), l.window)}
	}
	l.slots[l.next] = at.UnixNano()
	l.next = (l.next + 1) % len(l.slots)
	l.mu.Unlock()
	return retry.Sleep(ctx, delay)
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
