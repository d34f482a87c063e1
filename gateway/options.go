package gateway

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/outbox"
)

// Option configures New.
type Option func(*options) error

type options struct {
	store      outbox.Store
	marks      Marks
	journal    Journal
	limiter    middleware.Limiter
	logger     *slog.Logger
	ready      func(context.Context) error
	replica    string
	outboxOpts []outbox.Option
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: gateway: "+format, append([]any{middleware.ErrInvalidOption}, a...)...)
}

// WithStore keeps the queued notifications in s (redisstate.NewOutboxStore:
// shared by the replicas, kept across restarts). Default: an
// outbox.MemoryStore, whose jobs die with the process.
func WithStore(s outbox.Store) Option {
	return func(o *options) error {
		if s == nil {
			return invalid("WithStore(nil)")
		}
		o.store = s
		return nil
	}
}

// WithMarks keeps the dedup marks in m (redisstate.Marks: shared by the
// replicas). Default: MemoryMarks.
func WithMarks(m Marks) Option {
	return func(o *options) error {
		if m == nil {
			return invalid("WithMarks(nil)")
		}
		o.marks = m
		return nil
	}
}

// WithJournal keeps the history in j (redisstate.Journal: shared by the
// replicas). Default: MemoryJournal.
func WithJournal(j Journal) Option {
	return func(o *options) error {
		if j == nil {
			return invalid("WithJournal(nil)")
		}
		o.journal = j
		return nil
	}
}

// WithLimiter keeps every account's budgets in l (redisstate.Limiter:
// the replicas share one budget per bot). Default: each backend's own.
func WithLimiter(l middleware.Limiter) Option {
	return func(o *options) error {
		if l == nil {
			return invalid("WithLimiter(nil)")
		}
		o.limiter = l
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		o.logger = l
		return nil
	}
}

// WithReadiness sets what GET /readyz checks (a Redis PING, say): an error
// answers 503. Default: ready once serving.
func WithReadiness(f func(context.Context) error) Option {
	return func(o *options) error {
		o.ready = f
		return nil
	}
}

// WithReplica names this replica in the history and in the store (its
// outbox worker). Names must differ between replicas. Default: random.
func WithReplica(name string) Option {
	return func(o *options) error {
		if name == "" {
			return invalid("WithReplica(\"\")")
		}
		o.replica = name
		return nil
	}
}

// WithOutboxOptions passes opts to the outbox (outbox.WithCoalesceAfter,
// outbox.WithPollInterval...). WithStore, WithLogger and WithReplica set
// theirs.
func WithOutboxOptions(opts ...outbox.Option) Option {
	return func(o *options) error {
		o.outboxOpts = append(o.outboxOpts, opts...)
		return nil
	}
}
