package wecom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
	"github.com/imbridge/middleware/internal/retry"
)

// request is one HTTP call to WeCom.
type request struct {
	url, contentType string
	body             []byte // a message; nil for an upload
	open             func(ctx context.Context) (io.Reader, func(), error)
	length           int64
	// upload marks a request that creates no message: retrying it after an
	// ambiguous failure cannot duplicate anything, and it spends no budget.
	upload bool
	// budgets are what a message spends, booked before each attempt.
	budgets []middleware.Budget
}

// sendBody sends one message body to chatID, never twice at once.
func (c *Client) sendBody(ctx context.Context, chatID string, body []byte) (answer, error) {
	release, err := c.flight.acquire(ctx, body)
	if err != nil {
		return answer{}, err
	}
	defer release()
	var budgets []middleware.Budget
	if ctx.Value(bookedKey{}) == nil {
		budgets = c.pace.budgets(chatID)
	}
	return c.do(ctx, request{url: c.sendURL(), contentType: "application/json", body: body, length: int64(len(body)),
		budgets: budgets})
}

// bookedKey marks a push whose messages' slots were all booked before the
// first left: its requests book nothing more.
type bookedKey struct{}

// do sends req, retrying only what cannot duplicate a message.
func (c *Client) do(ctx context.Context, req request) (answer, error) {
	var r answer
	waitedWindow := false
	err := c.retry.Run(ctx, func(n int) retry.Outcome {
		if !req.upload && c.limiter != nil && req.budgets != nil {
			if err := middleware.WaitTurn(ctx, c.limiter, IM, c.pace.reason, req.budgets); err != nil {
				return retry.Outcome{Err: err}
			}
		}
		body, done, err := req.reader(ctx)
		if err != nil {
			return retry.Outcome{Err: err} // the media could not be read again
		}
		start := time.Now()
		resp, err := httpx.Post(ctx, c.http, req.url, req.contentType, body, req.length)
		done()
		if err == nil {
			r, err = decodeReply(resp, c.pace.window)
		}
		outcome.Report(ctx, middleware.AttemptInfo{Backend: IM, API: req.api(), Method: http.MethodPost, Host: c.host, Retry: n - 1, Start: start}, resp, err)
		switch {
		case err == nil:
			return retry.Outcome{}
		case resp == nil:
			return judgeTransport(ctx, req, err)
		}
		return judgeReply(req, err, &waitedWindow)
	})
	return r, err
}

// api is the request's path, for reports: never the query, which holds
// the key.
func (req request) api() string {
	if req.upload {
		return "/cgi-bin/webhook/upload_media"
	}
	return "/cgi-bin/webhook/send"
}

// reader returns req's body from its first byte, for one attempt, and what
// to call when the attempt is over.
func (req request) reader(ctx context.Context) (io.Reader, func(), error) {
	if req.body != nil {
		return bytes.NewReader(req.body), func() {}, nil
	}
	return req.open(ctx)
}

// judgeTransport decides on a request that got no answer. WeCom does not
// deduplicate: only positive proof that nothing left makes a message safe
// to send again; an upload creates no message and may always be retried.
func judgeTransport(ctx context.Context, req request, err error) retry.Outcome {
	var he *httpx.Error
	unwritten := errors.As(err, &he) && !he.Written
	switch {
	case !unwritten && !req.upload:
		return retry.Outcome{Err: fmt.Errorf("wecom: %w (not retried): %w", middleware.ErrMaybeDelivered, err)}
	case ctx.Err() != nil:
		return retry.Outcome{Err: fmt.Errorf("wecom: %w: %w", middleware.ErrUnsent, err)}
	}
	return retry.Outcome{Err: fmt.Errorf("wecom: %w: %w", middleware.ErrUnsent, err), Retry: true}
}

// judgeReply decides on a refusal: system busy and the concurrency limit
// are retried; 45009 blocks until the rate window passes (its RetryAfter:
// the window, or a longer Retry-After), which is waited out once (if the
// deadline allows) and not counted as an attempt; everything else, an
// HTTP 429 included, is final.
func judgeReply(req request, err error, waitedWindow *bool) retry.Outcome {
	var api *middleware.APIError
	errors.As(err, &api)
	switch {
	case errors.Is(err, middleware.ErrMaybeDelivered):
		return retry.Outcome{Err: err, Retry: req.upload}
	case retryable(api.Code):
		return retry.Outcome{Err: err, Retry: true}
	case api.Code == 45009 && !*waitedWindow:
		*waitedWindow = true
		return retry.Outcome{Err: err, Retry: true, Free: true, Wait: api.RetryAfter}
	}
	return retry.Outcome{Err: err}
}
