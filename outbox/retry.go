package outbox

import (
	"errors"
	"time"

	"github.com/imbridge/middleware"
)

// decision is what the outbox does with a job after a failed attempt,
// decided on the error's type and sentinels, never on its text.
type decision int

const (
	// fail: refused for good, and nothing was delivered.
	fail decision = iota
	// wait: the client's own budget refused; nothing left and nothing is
	// counted. The lane waits for the slot.
	wait
	// again: refused for a reason that passes with time, and surely not
	// delivered: tried again after a backoff, up to WithMaxAttempts.
	again
	// maybe: the request may have reached the platform: sent again only
	// where the platform drops repeats, else a maybe-delivered dead letter.
	maybe
)

func (d decision) String() string {
	return [...]string{"fail", "wait", "again", "maybe"}[d]
}

// decide reads a failed attempt that reached n targets with err.
func decide(n int, err error) decision {
	var le *middleware.LimitError
	var pe *middleware.PartialError
	var api *middleware.APIError
	switch {
	case errors.As(err, &le):
		return wait
	case n > 0, errors.Is(err, middleware.ErrMaybeDelivered), errors.As(err, &pe):
		return maybe
	case errors.Is(err, middleware.ErrRateLimited), errors.Is(err, middleware.ErrAccountOffline),
		errors.Is(err, middleware.ErrUnsent):
		return again
	case errors.As(err, &api) && api.HTTPStatus >= 500:
		// A 5xx the backend judged not delivered (else it says maybe).
		return again
	}
	return fail
}

// backoff is how long to wait before attempt n+1: what the platform asked,
// else 1 s doubling to 5 minutes.
func backoff(n int, err error) time.Duration {
	if d, ok := middleware.RetryAfter(err); ok {
		return d
	}
	return min(time.Second<<min(max(n-1, 0), 9), 5*time.Minute)
}
