package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors name the category of a failure. Test for them with
// errors.Is; read remote detail with errors.As and *APIError.
var (
	// ErrNoAccount means no account is registered for the target IM.
	ErrNoAccount = errors.New("middleware: no account for this IM")
	// ErrUnknownAccount means an explicit account id is not registered, or
	// belongs to another IM.
	ErrUnknownAccount = errors.New("middleware: unknown account")
	// ErrAccountOffline means the chosen account, or every account of the
	// IM, is offline or has been disabled by the platform.
	ErrAccountOffline = errors.New("middleware: account offline")
	// ErrUnauthorized means the platform refused the account's
	// credentials or its security settings: a wrong or deleted webhook
	// token, a bad or stale signature, a sender IP not on the allowlist.
	// Nothing was delivered; resending will not help until the
	// configuration is fixed.
	ErrUnauthorized = errors.New("middleware: credentials refused")
	// ErrInvalidTarget means the group or user id cannot be delivered to.
	ErrInvalidTarget = errors.New("middleware: invalid target")
	// ErrInvalidItem means a message item (text, media source, mixed item)
	// is missing, malformed or unreadable.
	ErrInvalidItem = errors.New("middleware: invalid item")
	// ErrTooLarge means content is over a platform limit.
	ErrTooLarge = errors.New("middleware: too large")
	// ErrUnsupported means the backend cannot express what was asked.
	ErrUnsupported = errors.New("middleware: unsupported")
	// ErrRateLimited means the platform (an *APIError) or the client itself
	// (a *LimitError) refused to send now. RetryAfter(err) says how long to
	// wait, when known.
	ErrRateLimited = errors.New("middleware: rate limited")
	// ErrInvalidOption means an option's value is out of range
	// (WithTimeout(-1s)), malformed, or conflicts with another option or
	// with the push (WithFilename with several media items).
	ErrInvalidOption = errors.New("middleware: invalid option")
	// ErrNotSent means a backend reported no delivered target without
	// saying why. The Client turns such an answer into this error so that a
	// zero count never travels without an error.
	ErrNotSent = errors.New("middleware: not sent")
	// ErrMaybeDelivered means a request failed after it may have reached
	// the platform (a timeout or a dropped connection after writing). It
	// was not retried, because the platform does not deduplicate: check
	// the chat before sending again.
	ErrMaybeDelivered = errors.New("middleware: the message may have been delivered")
	// ErrUnsent means the request of a push provably never left: it
	// failed before a byte of it was written (no route, a refused
	// connection, a deadline that passed before sending). Nothing was
	// delivered, so sending again cannot show it twice.
	ErrUnsent = errors.New("middleware: request not sent")
)

// APIError carries what a platform, or something in front of it, answered
// when it refused a request: it always stands for an HTTP answer. Unwrap
// returns the matching sentinel (for example ErrRateLimited), or nil when
// the code has no category. A refusal by the client itself is a
// *LimitError instead.
type APIError struct {
	// Backend names the platform: "wecom" (wecom.IM), "tim" (timchat.IM),
	// "dingtalk" (dingtalk.IM) or "feishu" (feishu.IM).
	Backend string
	// Code is the platform's error code (WeCom errcode, TIM ErrorCode); 0
	// when the answer was not the platform's (a redirect, a gateway's page,
	// an unreadable body: see HTTPStatus) or the client refused by itself.
	Code int
	// Message is the platform's error text.
	Message string
	// HTTPStatus is the HTTP status of the answer, 0 if none was received.
	HTTPStatus int
	// RetryAfter is how long the platform asks to wait, 0 if unknown.
	RetryAfter time.Duration
	// Hint is a suggestion for the caller, such as checking the region.
	Hint string
	// Kind is the sentinel Unwrap returns; nil for none.
	Kind error
}

// Error formats the backend, code and message. It never contains secrets:
// backends only put the platform's own text here.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Backend)
	if e.Code != 0 {
		fmt.Fprintf(&b, ": error %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.HTTPStatus != 0 && (e.HTTPStatus != 200 || e.Code == 0) {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; %s", e.Hint)
	}
	return b.String()
}

// Unwrap returns the error's category sentinel, or nil.
func (e *APIError) Unwrap() error { return e.Kind }

// LimitError is a refusal by the client itself, before anything was sent:
// a pacer whose next slot is past the deadline, or a platform's spacing rule
// kept on the client side. The platform said nothing, so there is no code.
// It is ErrRateLimited.
type LimitError struct {
	// Backend names the platform whose budget was spent: "wecom" or "tim".
	Backend string
	// Reason says which budget, for people.
	Reason string
	// RetryAfter is when the next slot frees, 0 if unknown.
	RetryAfter time.Duration
}

// Error says who refused and for how long.
func (e *LimitError) Error() string {
	s := e.Backend + ": rate limited by the client: " + e.Reason
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter.Round(time.Millisecond))
	}
	return s
}

// Unwrap returns ErrRateLimited.
func (e *LimitError) Unwrap() error { return ErrRateLimited }

// RetryAfter says how long to wait before trying again, whoever refused:
// the platform (*APIError.RetryAfter, from its error code or an HTTP
// Retry-After) or the client (*LimitError.RetryAfter). ok is false when
// err carries no such delay.
func RetryAfter(err error) (d time.Duration, ok bool) {
	var api *APIError
	if errors.As(err, &api) && api.RetryAfter > 0 {
		return api.RetryAfter, true
	}
	var le *LimitError
	if errors.As(err, &le) && le.RetryAfter > 0 {
		return le.RetryAfter, true
	}
	return 0, false
}

// TargetFailure is one recipient that a multi-target send did not reach.
type TargetFailure struct {
	// ID is the group or user id.
	ID string
	// Code is the platform's per-target error code, 0 when the platform
	// did not answer for it.
	Code int
	// MaybeDelivered is true when the request for this target failed after
	// it may have reached the platform (a timeout after writing, a
	// gateway's 5xx). Resending it may duplicate the message.
	MaybeDelivered bool
}

// PartialError reports a send that delivered some of its parts and then
// failed. The count returned beside it says how many targets were reached.
// A caller can resend exactly what is missing: the items whose indexes are
// not in DeliveredItems, or the targets in FailedTargets. What may have
// arrived is marked: MaybeDelivered for the failed item, and
// TargetFailure.MaybeDelivered per target; resending those may duplicate
// them, so check the chat first (or accept the duplicate).
type PartialError struct {
	// DeliveredItems lists, in order, the indexes of the items (of a mixed
	// push, or chunks of a split text) that were delivered before the
	// failure.
	DeliveredItems []int
	// FailedItem is the index of the item whose send failed, -1 if none.
	FailedItem int
	// SentParts counts the messages the platform accepted, chunks of a
	// split text included; the failing item may have delivered some.
	SentParts int
	// MaybeDelivered is true when the request of FailedItem failed after it
	// may have reached the platform: the item's fate is unknown, not
	// failed.
	MaybeDelivered bool
	// FailedTargets lists recipients that were not reached, or whose fate
	// is unknown (see TargetFailure.MaybeDelivered).
	FailedTargets []TargetFailure
	// Err is the failure.
	Err error
}

// Error says what was delivered and what failed.
func (e *PartialError) Error() string {
	var b strings.Builder
	b.WriteString("middleware: partial delivery")
	if e.FailedItem >= 0 {
		verb := "failed"
		if e.MaybeDelivered {
			verb = "may have been delivered"
		}
		fmt.Fprintf(&b, ": item %d %s, items %v delivered", e.FailedItem, verb, e.DeliveredItems)
	}
	if len(e.FailedTargets) > 0 {
		ids := make([]string, len(e.FailedTargets))
		for i, f := range e.FailedTargets {
			ids[i] = fmt.Sprintf("%s (%d)", f.ID, f.Code)
			if f.MaybeDelivered {
				ids[i] = fmt.Sprintf("%s (%d, may have been delivered)", f.ID, f.Code)
			}
		}
		fmt.Fprintf(&b, ": %d targets failed: %s", len(ids), strings.Join(ids, ", "))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the underlying failure.
func (e *PartialError) Unwrap() error { return e.Err }

// Resume returns the Option that sends the same push again from its first
// message not accepted: the SentParts messages the platform took are not
// sent twice. Give it with the same arguments and options; a failed
// message whose fate is unknown (MaybeDelivered) goes again, and may then
// show twice.
func (e *PartialError) Resume() Option { return resumeAfter(e.SentParts) }

// resumeAfter skips the first n messages of a push.
func resumeAfter(n int) Option {
	return func(c *callConfig) {
		if n < 0 {
			c.fail(fmt.Errorf("%w: resume after %d messages", ErrInvalidOption, n))
			return
		}
		c.Resume = n
	}
}

// ErrorClass names the category of err, as logs, the Observer, the outbox
// and the CLI show it: "rate_limited", "invalid_item", "api", "context",
// "other"..., and "" for nil.
func ErrorClass(err error) string {
	if err == nil {
		return ""
	}
	for _, s := range []struct {
		err  error
		name string
	}{
		{ErrNoAccount, "no_account"},
		{ErrUnknownAccount, "unknown_account"},
		{ErrAccountOffline, "account_offline"},
		{ErrUnauthorized, "unauthorized"},
		{ErrInvalidTarget, "invalid_target"},
		{ErrInvalidItem, "invalid_item"},
		{ErrTooLarge, "too_large"},
		{ErrUnsupported, "unsupported"},
		{ErrRateLimited, "rate_limited"},
		{ErrInvalidOption, "invalid_option"},
		{ErrNotSent, "not_sent"},
		{ErrMaybeDelivered, "maybe_delivered"},
		{ErrUnsent, "unsent"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	var api *APIError
	if errors.As(err, &api) {
		return "api"
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "context"
	}
	return "other"
}
