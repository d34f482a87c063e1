package outbox

import (
	"time"

	"github.com/imbridge/middleware"
)

// OptionCodec is implemented by backends whose options (Message.Extras) an
// Outbox can store with a job and read back in another process. A push
// with backend options to a backend without it cannot be queued. The
// backends implement it without importing this package.
type OptionCodec interface {
	// EncodeOptions returns this backend's options among extras as bytes;
	// options of other backends are left out, as Send ignores them.
	EncodeOptions(extras []any) ([]byte, error)
	// DecodeOptions turns what EncodeOptions returned back into an Option
	// that asks for the same.
	DecodeOptions(data []byte) (middleware.Option, error)
}

// Planner is implemented by backends that can say, without I/O, how many
// platform messages msg takes. An Outbox merges queued text pushes only
// into messages that still take one, so each costs one unit of the
// platform's budget.
type Planner interface {
	Messages(msg *middleware.Message) (int, error)
}

// Deduplicator is implemented by backends whose platform drops a message it
// has already taken, when it is sent again with the same
// Message.IdempotencyKey. DedupWindow is how long after the first attempt
// that holds for msg; 0 when it never does (a TIM broadcast, say).
type Deduplicator interface {
	DedupWindow(msg *middleware.Message) time.Duration
}
