// Package hook sends one message to a custom-bot webhook (DingTalk,
// Feishu/Lark): paced by a middleware.Limiter before it leaves, built and
// signed anew for each attempt (both platforms refuse a stale timestamp),
// and retried only when nothing can have been posted. What a refusal means
// is each backend's own decision (Sender.Decode, Sender.WaitOnce).
package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
	"github.com/imbridge/middleware/internal/retry"
)

// Sender posts messages to one bot. It is built once by a backend's New
// and only used after.
type Sender struct {
	// IM names the platform in errors and reports.
	IM string
	// API is the request's path for reports: never the URL, which may hold
	// a secret.
	API string
	// Host is the origin's host[:port], for reports.
	Host string
	// HTTP is the backend's client (httpx.Client: no redirects).
	HTTP *http.Client
	// Limiter books the budgets of each message; nil: no pacing.
	Limiter middleware.Limiter
	// Reason names the budgets in a client refusal.
	Reason string
	// Retry bounds the attempts of what is safe to retry.
	Retry retry.Policy
	// Decode reads an answer: nil for success, else an error that is an
	// *middleware.APIError (httpx.NotPlatform for what is not the
	// platform's).
	Decode func(*httpx.Response) error
	// WaitOnce says whether a refusal was made before anything was posted
	// and passes with time (a rate window), and how long to wait: such a
	// refusal is tried once more, if the deadline allows, without counting
	// as an attempt. nil: never.
	WaitOnce func(error) (time.Duration, bool)
}

// Request is one message: how to build its URL and body for an attempt
// (called again at each: a signature covers the time it is made), and the
// budgets it spends.
type Request struct {
	Build   func() (url string, body []byte, err error)
	Budgets []middleware.Budget
}

// Post sends req. Its error is the platform's refusal (an
// *middleware.APIError), a client refusal (*middleware.LimitError), or a
// transport failure wrapped with middleware.ErrMaybeDelivered when the
// request may have been written.
func (s *Sender) Post(ctx context.Context, req Request) error {
	waited := false
	return s.Retry.Run(ctx, func(n int) retry.Outcome {
		if err := middleware.WaitTurn(ctx, s.Limiter, s.IM, s.Reason, req.Budgets); err != nil {
			return retry.Outcome{Err: err}
		}
		u, body, err := req.Build()
		if err != nil {
			return retry.Outcome{Err: err}
		}
		start := time.Now()
		resp, err := httpx.Post(ctx, s.HTTP, u, "application/json", bytes.NewReader(body), int64(len(body)))
		if err == nil {
			err = s.Decode(resp)
		}
		outcome.Report(ctx, middleware.AttemptInfo{Backend: s.IM, API: s.API, Method: http.MethodPost, Host: s.Host, Retry: n - 1, Start: start}, resp, err)
		switch {
		case err == nil:
			return retry.Outcome{}
		case resp == nil:
			return s.judgeTransport(ctx, err)
		}
		if d, ok := s.waitOnce(err); ok && !waited {
			waited = true
			return retry.Outcome{Err: err, Retry: true, Free: true, Wait: d}
		}
		return retry.Outcome{Err: err}
	})
}

func (s *Sender) waitOnce(err error) (time.Duration, bool) {
	if s.WaitOnce == nil {
		return 0, false
	}
	return s.WaitOnce(err)
}

// judgeTransport decides on a request that got no answer. Neither platform
// is known to deduplicate a custom bot's message, so only proof that
// nothing was written makes it safe to send again.
func (s *Sender) judgeTransport(ctx context.Context, err error) retry.Outcome {
	var he *httpx.Error
	unwritten := errors.As(err, &he) && !he.Written
	switch {
	case !unwritten:
		return retry.Outcome{Err: fmt.Errorf("%s: %w (not retried): %w", s.IM, middleware.ErrMaybeDelivered, err)}
	case ctx.Err() != nil:
		return retry.Outcome{Err: fmt.Errorf("%s: %w: %w", s.IM, middleware.ErrUnsent, err)}
	}
	return retry.Outcome{Err: fmt.Errorf("%s: %w: %w", s.IM, middleware.ErrUnsent, err), Retry: true}
}

// Margin is the share of a window a pacer adds to it: the pacer books when
// a request leaves, the platform counts when it arrives, and a request
// slowed on its way would otherwise land in the window of one sent a whole
// window later (the same margin as package wecom's pacer).
const Margin = 20 // 1/20: 3 s of a minute

// Budget is one rate budget of a bot, named by scope (a hash of its
// secret, never the secret), with the margin added to its window.
func Budget(scope, name string, limit int, window time.Duration) middleware.Budget {
	return middleware.Budget{Key: scope + ":" + name, Limit: limit, Window: window + window/Margin}
}

// TokenChars reports whether s holds only ASCII letters, digits, '-' and
// '_': what the platforms' webhook tokens and hook ids are made of, so
// that a token pasted with a stray character is refused before it is
// sent anywhere.
func TokenChars(s string) bool {
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
