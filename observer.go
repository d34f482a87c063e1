package middleware

import (
	"context"
	"time"
)

// Observer sees what the SDK does, for metrics and traces: each push, each
// HTTP attempt of a backend, each wait for a rate budget, each media
// upload. Nothing it receives holds a secret or message content: hosts,
// not URLs; error classes, not error texts (PushResult.Err aside, which is
// the error the caller gets, secrets already removed). The SDK calls it
// synchronously, on the push's goroutine; it must be fast and safe for
// concurrent use. Package otelobserver implements it with OpenTelemetry.
//
// With no Observer (the default) nothing is built or called: the cost is
// one context lookup at each point of report.
type Observer interface {
	// PushStart is called as a helper call starts. The context it returns
	// is the one the push goes on with (a span's, say).
	PushStart(ctx context.Context, p PushInfo) context.Context
	// PushEnd is called as the helper call returns.
	PushEnd(ctx context.Context, p PushInfo, r PushResult)
	// Attempt is called after each HTTP request a backend makes.
	Attempt(ctx context.Context, a AttemptInfo)
	// Wait is called after each booking against a rate budget.
	Wait(ctx context.Context, w WaitInfo)
	// Upload is called for each media item a backend uploads or finds
	// already uploaded.
	Upload(ctx context.Context, u UploadInfo)
}

// NoopObserver does nothing at every point of report. Embed it in an
// Observer of your own and implement only what you need: a method added
// to Observer later then does nothing in your type instead of breaking
// its build.
type NoopObserver struct{}

// PushStart returns ctx.
func (NoopObserver) PushStart(ctx context.Context, _ PushInfo) context.Context { return ctx }

// PushEnd does nothing.
func (NoopObserver) PushEnd(context.Context, PushInfo, PushResult) {}

// Attempt does nothing.
func (NoopObserver) Attempt(context.Context, AttemptInfo) {}

// Wait does nothing.
func (NoopObserver) Wait(context.Context, WaitInfo) {}

// Upload does nothing.
func (NoopObserver) Upload(context.Context, UploadInfo) {}

// PushInfo names a helper call.
type PushInfo struct {
	Helper  string     // "push", "pushImage", ...
	IM      string     // the target IM
	Account string     // the sending account, "" until resolved
	Target  string     // "group", "user", "group+user", "none"
	Items   []ItemType // the item types, in order
	Start   time.Time
}

// PushResult is how a helper call ended.
type PushResult struct {
	Sent     int
	Err      error  // what the caller gets
	Class    string // the error's category ("rate_limited", ...; "" on success), as in the log record
	Duration time.Duration
}

// AttemptInfo is one HTTP request of a backend.
type AttemptInfo struct {
	Backend  string // "wecom", "tim"
	API      string // names the request, never its query: WeCom's path ("/cgi-bin/webhook/send"), TIM's command ("openim/sendmsg")
	Method   string
	Host     string // host[:port] of the server
	Status   int    // HTTP status, 0 when no answer came
	Code     int    // the platform's code, 0 when it gave none
	Written  bool   // the request may have reached the server
	Retry    int    // 0 for the first attempt
	Start    time.Time
	Duration time.Duration
	// ErrorType is a low-cardinality cause of a failure: "timeout",
	// "connection", the HTTP status ("503"), the platform code ("45009");
	// "" on success.
	ErrorType string
}

// WaitInfo is one booking against a rate budget.
type WaitInfo struct {
	Backend string        // "wecom", "tim"
	Reason  string        // the budget, for people
	Wait    time.Duration // how long the send waited, or would have had to
	Refused bool          // the slot was past the deadline: nothing sent
}

// UploadInfo is one media item a backend hosted.
type UploadInfo struct {
	Backend  string   // "wecom", "tim"
	Type     ItemType // the item's type
	Bytes    int64
	CacheHit bool // an earlier upload was reused: nothing went up
	Duration time.Duration
}

type observerKey struct{}

// WithObserver makes o see every push of the Client. Default: none.
func WithObserver(o Observer) ClientOption {
	return func(c *clientConfig) error {
		c.observer = o
		return nil
	}
}

// ContextWithObserver returns ctx carrying o, for the backends' own calls
// made outside a Client (wecom.Client.SendNews, say). A Client puts its
// Observer in the context of each push itself.
func ContextWithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ObserverFrom returns the Observer of ctx, or nil. Backends report
// through it.
func ObserverFrom(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}
