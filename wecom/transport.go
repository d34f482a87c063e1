package wecom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/retry"
)

// request is one HTTP call to WeCom.
type request struct {
	url, contentType string
	body             []byte // a message; nil for an upload
	open             func(ctx context.Context) (io.Reader, func(), error)
	length           int64
	// upload marks a request that creates no message: retrying it after an
	// ambiguous failure cannot duplicate anything.
	upload bool
}

// sendBody sends one message body, never twice at once.
func (c *Client) sendBody(ctx context.Context, body []byte) (*reply, error) {
	release, err := c.flight.acquire(ctx, body)
	if err != nil {
		return nil, err
	}
	defer release()
	return c.do(ctx, request{url: c.sendURL(), contentType: "application/json", body: body, length: int64(len(body))})
}

// do sends req, retrying only what cannot duplicate a message.
func (c *Client) do(ctx context.Context, req request) (*reply, error) {
	waitedWindow := false
	for attempt := 1; ; attempt++ {
		if !req.upload {
			if err := c.limiter.wait(ctx); err != nil {
				return nil, err
			}
		}
		body, done := io.Reader(nil), func() {}
		if req.body != nil {
			body = bytes.NewReader(req.body)
		} else {
			var err error
			if body, done, err = req.open(ctx); err != nil {
				return nil, err
			}
		}
		resp, err := httpx.Post(ctx, c.http, req.url, req.contentType, body, req.length)
		done()

		var lastErr error
		wait := time.Duration(0)
		if err != nil {
			// Only positive proof that nothing left makes a send safe to
			// retry: WeCom does not deduplicate.
			var he *httpx.Error
			unwritten := errors.As(err, &he) && !he.Written
			if !unwritten && !req.upload {
				return nil, fmt.Errorf("wecom: %w (not retried): %w", middleware.ErrMaybeDelivered, err)
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, fmt.Errorf("wecom: %w", err)
			}
			lastErr = fmt.Errorf("wecom: %w", err)
		} else {
			r, err := decodeReply(resp)
			if err == nil {
				return r, nil
			}
			lastErr = err
			var api *middleware.APIError
			errors.As(err, &api)
			switch {
			case errors.Is(err, middleware.ErrMaybeDelivered):
				if !req.upload {
					return nil, err
				}
			case retryable(api.Code):
			case api.Code == 45009 && !waitedWindow:
				// Blocked until the minute window passes: wait it out
				// once, if the deadline allows, and do not count it as an
				// attempt.
				waitedWindow = true
				wait = max(rateWindow, api.RetryAfter)
				attempt--
			default:
				// Everything else, an HTTP 429 included, is final.
				return nil, err
			}
		}
		if attempt >= c.retry.Attempts {
			return nil, lastErr
		}
		if wait == 0 {
			wait = c.retry.Delay(attempt)
		}
		if !retry.Fits(ctx, wait) {
			return nil, lastErr
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, lastErr
		}
	}
}
