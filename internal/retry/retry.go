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
