package outbox

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/imbridge/middleware"
)

// Option configures an Outbox. See New.
type Option func(*config) error

type config struct {
	store       Store
	after       time.Duration // coalesce texts that waited this long; < 0: never
	separator   string
	workers     int
	poll        time.Duration
	maxAttempts int
	claimBatch  int
	worker      string
	logger      *slog.Logger
}

func newConfig(c *middleware.Client, opts []Option) (config, error) {
	cfg := config{after: 2 * time.Second, separator: "\n\n", workers: 8, poll: 200 * time.Millisecond,
		maxAttempts: 8, claimBatch: 1000, logger: c.Logger()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return config{}, err
		}
	}
	if cfg.store == nil {
		cfg.store = NewMemoryStore(0)
	}
	if cfg.worker == "" {
		cfg.worker = "w-" + randomHex(8)
	}
	return cfg, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: outbox: "+format, append([]any{middleware.ErrInvalidOption}, args...)...)
}

// WithStore keeps the jobs in s: redisstate.NewOutboxStore for jobs that
// must outlive the process and be shared by replicas. nil is
// ErrInvalidOption. Default: a MemoryStore, whose jobs are lost when the
// process exits.
func WithStore(s Store) Option {
	return func(c *config) error {
		if s == nil {
			return invalid("WithStore(nil)")
		}
		c.store = s
		return nil
	}
}

// WithCoalesceAfter merges text pushes (Push, not markdown items of
// PushMixed, never media) to one target and account, with the same title
// and options, once the first of them has waited d: in order, joined by the
// separator, into as few messages as the platform's size limits allow. 0
// merges whatever waits. d < 0 is ErrInvalidOption; WithoutCoalescing
// turns merging off. Default: 2 s.
func WithCoalesceAfter(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return invalid("WithCoalesceAfter(%s): negative delay", d)
		}
		c.after = d
		return nil
	}
}

// WithoutCoalescing sends every push as its own message, however long it
// waits. Default: merged after WithCoalesceAfter's delay.
func WithoutCoalescing() Option {
	return func(c *config) error {
		c.after = -1
		return nil
	}
}

// WithSeparator sets what goes between merged texts. Empty is
// ErrInvalidOption: texts would run into each other. Default: "\n\n".
func WithSeparator(s string) Option {
	return func(c *config) error {
		if s == "" {
			return invalid("WithSeparator(\"\"): merged texts would run together")
		}
		c.separator = s
		return nil
	}
}

// WithWorkers sets how many lanes (target and account) Run delivers at
// once; each lane stays in order. n < 1 is ErrInvalidOption. Default: 8.
func WithWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithWorkers(%d): at least 1", n)
		}
		c.workers = n
		return nil
	}
}

// WithPollInterval sets how often Run asks the store for jobs other
// processes queued (its own are seen at once). d <= 0 is ErrInvalidOption.
// Default: 200 ms.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithPollInterval(%s): must be positive", d)
		}
		c.poll = d
		return nil
	}
}

// WithMaxAttempts sets how many times a job refused for a passing reason,
// surely undelivered (the platform's rate limit, a network failure before
// writing, an offline account), is tried before it fails for good. A
// refusal by the client's own budget, which sends nothing, does not count.
// n < 1 is ErrInvalidOption. Default: 8.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithMaxAttempts(%d): at least 1", n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithWorkerName names this Outbox's worker in the store (a pod name, say).
// Names must differ between processes sharing a store. Empty is
// ErrInvalidOption. Default: random.
func WithWorkerName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return invalid("WithWorkerName(\"\")")
		}
		c.worker = name
		return nil
	}
}

// WithLogger gets a record when the store stops answering, when it answers
// again, and when it would not record a delivery step. nil discards them.
// Default: the Client's logger (middleware.WithLogger).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
		return nil
	}
}
