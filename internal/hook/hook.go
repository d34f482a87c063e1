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
	budgets := req.Budgets
	if b, ok := ctx.Value(bookedKey{}).([]middleware.Budget); ok {
		budgets = b // the rest were booked for every part at once
	}
	return s.Retry.Run(ctx, func(n int) retry.Outcome {
		if err := middleware.WaitTurn(ctx, s.Limiter, s.IM, s.Reason, budgets); err != nil {
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

// bookedKey carries, in a push whose parts were booked at once, the
// budgets each part still books on its own (those too small to hold them
// all in one window, such as a per-second one).
type bookedKey struct{}

// CheckParts checks, without I/O, that the messages a push takes from
// message resume on can be booked: that they fit the window of at least
// one budget (else ErrInvalidItem, naming the count; a budget too small
// for them all, such as a per-second one, is booked message by message),
// and that resume is within the push (else ErrInvalidOption).
func CheckParts(im string, budgets []middleware.Budget, parts, resume int) error {
	if resume < 0 || (resume > 0 && resume >= parts) {
		return fmt.Errorf("%w: %s: resume after %d messages, and the push takes %d", middleware.ErrInvalidOption, im, resume, parts)
	}
	k := parts - resume
	most := 0
	for _, b := range budgets {
		most = max(most, b.Limit)
	}
	if len(budgets) > 0 && k > most {
		return fmt.Errorf("%w: %s: the push takes %d messages, and the budget allows %d a window: shorten it", middleware.ErrInvalidItem, im, k, most)
	}
	return nil
}

// BookParts books the k messages a push takes from message resume on, all
// or none, before the first leaves, in every budget whose window holds k
// (see CheckParts for the others). It returns the context the parts go on
// with.
func (s *Sender) BookParts(ctx context.Context, budgets []middleware.Budget, parts, resume int) (context.Context, error) {
	if err := CheckParts(s.IM, budgets, parts, resume); err != nil {
		return ctx, err
	}
	k := parts - resume
	if s.Limiter == nil || len(budgets) == 0 || k <= 1 {
		return ctx, nil
	}
	var all, each []middleware.Budget
	for _, b := range budgets {
		if k <= b.Limit {
			b.Sends = k
			all = append(all, b)
		} else {
			each = append(each, b)
		}
	}
	if err := middleware.WaitTurn(ctx, s.Limiter, s.IM, s.Reason, all); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, bookedKey{}, each), nil
}
