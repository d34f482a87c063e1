package middleware

import (
	"context"
	"net/http"
)

// Backend delivers a resolved, validated message to one platform account.
// It returns how many targets it reached. It must not return (0, nil); the
// Client turns that into ErrNotSent. A Backend must be safe for concurrent
// use.
type Backend interface {
	Send(ctx context.Context, msg *Message) (int, error)
}

// Validator is implemented by backends that can check a message against
// their own limits without I/O. The Client calls Validate after account
// selection and before Send, so that a PushMixed with one bad item sends
// nothing at all.
type Validator interface {
	Validate(msg *Message) error
}

// Message is what a Backend receives: the target, the items in order and the
// call's options. Media items are opened lazily with OpenMedia.
type Message struct {
	// IM is the target imType.
	IM string
	// GroupCode and UserID are the targets as given; either may hold
	// several ids joined by "|".
	GroupCode, UserID string
	// Title is the helper's title argument.
	Title string
	// AccountID is the resolved sending account.
	AccountID string
	// Items are the message parts in order. A text push has one TextItem
	// whose Text already fell back to Title when content was empty.
	Items []Item
	// Fields are merged into the backend's request body at the top level
	// (WithField, WithOptions).
	Fields map[string]any
	// Filename and MIME are the WithFilename and WithMIME overrides.
	Filename, MIME string
	// Extras holds backend-specific options (see BackendOption) in the
	// order they were given.
	Extras []any
	// IdempotencyKey, when not 0, names this push across attempts and
	// processes (WithIdempotencyKey; an Outbox sets one per job). A backend
	// whose platform drops repeated messages (see Deduplicator) derives its
	// dedup fields from it, so a resend is dropped there instead of shown
	// twice. 0: the backend picks fresh ones for each push.
	IdempotencyKey uint64
	// Resume is how many of the push's messages an earlier try delivered
	// (PartialError.Resume): a backend that splits a push into several
	// messages plans them as always and sends from message Resume on,
	// counting them in a PartialError's SentParts from the start. 0: all.
	Resume int

	progress func(done, total int64) // WithProgress
	fetch    *fetcher                // reads URL sources
	policy   *SourcePolicy           // nil: TrustedSources
	sources  []*source               // prepared by the Client, by item index
}

// Groups returns the group ids of GroupCode, split on "|".
func (m *Message) Groups() []string { return splitIDs(m.GroupCode) }

// Users returns the user ids of UserID, split on "|".
func (m *Message) Users() []string { return splitIDs(m.UserID) }

// HTTPClient returns the client media are fetched with: the Client's
// WithHTTPClient (or net/http's defaults) under the call's SourcePolicy,
// which it checks on every request, redirect and dialled address. A
// backend that fetches anything for a source uses it, or OpenMedia.
func (m *Message) HTTPClient() *http.Client {
	return m.fetch.client(m.sourcePolicy())
}

// sourcePolicy is the call's SourcePolicy; a Message built by hand, not by
// a Client, trusts its sources.
func (m *Message) sourcePolicy() SourcePolicy {
	if m.policy != nil {
		return *m.policy
	}
	return trusted()
}

// BackendOption wraps a backend-specific option value, such as
// wecom.Mention, in the Option type shared by all helpers. The value lands
// in Message.Extras; backends look for their own types there and ignore the
// rest.
func BackendOption(v any) Option {
	return func(c *callConfig) { c.Extras = append(c.Extras, v) }
}
