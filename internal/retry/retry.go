// Package retry holds the backoff and the context-aware sleep both
// backends use; what is safe to retry is each backend's own decision.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/imbridge/middleware"
)

// Policy is how many attempts a retryable failure gets and the first
// backoff, doubled each time.
type Policy struct {
	Attempts int
	Backoff  time.Duration
}

// Delay is the jittered backoff before attempt+1: between half and all of
// Backoff * 2^(attempt-1).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Backoff << (attempt - 1)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Fits reports whether waiting d leaves ctx's deadline unpassed.
func Fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) >= d
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New checks and returns a policy: at least one attempt, no negative
// backoff. prefix names the caller in the error ("wecom", "timchat").
func New(prefix string, attempts int, backoff time.Duration) (Policy, error) {
	if attempts < 1 || backoff < 0 {
		return Policy{}, fmt.Errorf("%w: %s: WithRetry(%d, %s): need attempts >= 1 and backoff >= 0", middleware.ErrInvalidOption, prefix, attempts, backoff)
	}
	return Policy{Attempts: attempts, Backoff: backoff}, nil
}

// Outcome is what one attempt decided.
type Outcome struct {
	// Err is the attempt's failure; nil ends Run with success.
	Err error
	// Retry says the failure is safe to try again.
	Retry bool
	// Wait is the least time before the next attempt (a Retry-After, a
	// rate window), on top of which the backoff applies.
	Wait time.Duration
	// Free marks a retry that does not count as an attempt and takes no
	// backoff, only Wait: a signature renewed, a rate window waited out.
	Free bool
}

// Run calls attempt until it succeeds or gives a final outcome, until the
// attempts are spent, or until the next wait would pass ctx's deadline or
// ctx ends while waiting; then it returns the last attempt's error.
// Between counted attempts it waits the longer of the jittered backoff and
// Outcome.Wait. n is the number of the counted attempt, from 1.
func (p Policy) Run(ctx context.Context, attempt func(n int) Outcome) error {
	for n := 1; ; {
		o := attempt(n)
		switch {
		case o.Err == nil:
			return nil
		case !o.Retry:
			return o.Err
		case !o.Free && n >= p.Attempts:
			return o.Err
		}
		wait := o.Wait
		if !o.Free {
			wait = max(wait, p.Delay(n))
			n++
		}
		if !Fits(ctx, wait) || Sleep(ctx, wait) != nil {
			return o.Err
		}
	}
}
