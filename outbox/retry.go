package outbox

import (
	"errors"
	"time"

	"github.com/imbridge/middleware"
)

// maybeDelivered reports whether a failed request may have reached the
// platform, wholly or in part.
func maybeDelivered(n int, err error) bool {
	var pe *middleware.PartialError
	return n > 0 || errors.Is(err, middleware.ErrMaybeDelivered) || errors.As(err, &pe)
}

// retryable reports whether err passes with time: rate limits, an offline
// account, the network, a server's 5xx or a deadline before any write.
func retryable(err error) bool {
	if _, ok := middleware.RetryAfter(err); ok {
		return true
	}
	var api *middleware.APIError
	switch {
	case errors.Is(err, middleware.ErrRateLimited), errors.Is(err, middleware.ErrAccountOffline):
		return true
	case errors.As(err, &api):
		return api.HTTPStatus >= 500
	}
	switch middleware.ErrorClass(err) {
	case "context", "other":
		return true
	}
	return false
}

// backoff is how long to wait before attempt n+1: what the platform asked,
// else 1 s doubling to 5 minutes.
func backoff(n int, err error) time.Duration {
	if d, ok := middleware.RetryAfter(err); ok {
		return d
	}
	return min(time.Second<<min(max(n-1, 0), 9), 5*time.Minute)
}
