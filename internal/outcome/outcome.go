// Package outcome reads what the platforms answer for every backend: an
// answer that is not the platform's (a proxy's page, a redirect), and the
// report of each attempt to the push's Observer.
package outcome

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
)

// NotPlatform describes an HTTP answer that is not the platform's reply:
// a redirect, a proxy's or gateway's error page, a body that does not
// parse. It is an *APIError with HTTPStatus set and Code 0, the same on
// both backends:
//   - 3xx: refused, never followed and never success; not delivered.
//   - 429, and 503 with Retry-After: ErrRateLimited, with RetryAfter.
//   - other 5xx, and a 2xx that does not parse: ErrMaybeDelivered (a
//     gateway may have passed the request on).
//   - other statuses (a 404 from a wrong base URL): not delivered.
func NotPlatform(backend string, r *httpx.Response) *middleware.APIError {
	e := &middleware.APIError{Backend: backend, HTTPStatus: r.Status}
	wait, hasWait := httpx.RetryAfter(r.Header, time.Now())
	switch s := r.Status; {
	case s >= 300 && s <= 399:
		e.Message = "redirect refused: API requests are never redirected"
		e.Hint = "check the base URL"
	case s == http.StatusTooManyRequests || (s == http.StatusServiceUnavailable && hasWait):
		e.Kind, e.RetryAfter = middleware.ErrRateLimited, wait
		e.Message = "too many requests"
	case s >= 500:
		e.Kind = middleware.ErrMaybeDelivered
		e.Message = "server or gateway error; the message may have been delivered"
	case s >= 200 && s <= 299:
		e.Kind = middleware.ErrMaybeDelivered
		e.Message = fmt.Sprintf("unreadable answer (%d bytes); the message may have been delivered", len(r.Body))
	default:
		e.Message = fmt.Sprintf("not a %s answer", backend)
		e.Hint = "check the base URL"
	}
	return e
}

// Report tells the Observer of ctx, if there is one, about one attempt. a
// names it (Backend, API, Method, Host, Retry, Start); the rest comes from
// what happened: resp and its decoding's err, or the transport's err.
func Report(ctx context.Context, a middleware.AttemptInfo, resp *httpx.Response, err error) {
	o := middleware.ObserverFrom(ctx)
	if o == nil {
		return
	}
	a.Duration = time.Since(a.Start)
	var api *middleware.APIError
	switch {
	case resp != nil:
		a.Status, a.Written = resp.Status, true
		if errors.As(err, &api) {
			a.Code = api.Code
			a.ErrorType = strconv.Itoa(resp.Status)
			if api.Code != 0 {
				a.ErrorType = strconv.Itoa(api.Code)
			}
		}
	case err != nil:
		var he *httpx.Error
		a.Written = !errors.As(err, &he) || he.Written
		a.ErrorType = "connection"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			a.ErrorType = "timeout"
		} else if errors.Is(err, context.Canceled) {
			a.ErrorType = "canceled"
		}
	}
	o.Attempt(ctx, a)
}
