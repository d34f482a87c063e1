package wecom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
			var he *httpx.Error
			written := errors.As(err, &he) && he.Written
			if written && !req.upload {
				return nil, fmt.Errorf("wecom: %w (not retried): %w", middleware.ErrMaybeDelivered, err)
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, fmt.Errorf("wecom: %w", err)
			}
			lastErr = fmt.Errorf("wecom: %w", err)
		} else {
			r, err := decodeReply(resp.Status, resp.Body)
			if err == nil {
				return r, nil
			}
			scrubAPIError(err, c.key)
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
				wait = rateWindow
				attempt--
			default:
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

// scrubAPIError removes secrets from the platform's own text, which some
// errors echo (for example the webhook URL of a 93000).
func scrubAPIError(err error, secrets ...string) {
	var api *middleware.APIError
	if errors.As(err, &api) {
		for _, s := range secrets {
			if s != "" {
				api.Message = strings.ReplaceAll(api.Message, s, "REDACTED")
			}
		}
	}
}
