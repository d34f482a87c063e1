package redisstate

import (
	"context"
	"log/slog"
	"time"
)

// Fallback is what the limiter does while Redis cannot answer.
type Fallback int

const (
	// FallbackLocal paces with an in-memory limiter of this process until
	// Redis answers again: pushes go on, each replica within the budget
	// but the replicas together possibly over it. The default.
	FallbackLocal Fallback = iota
	// FallbackRefuse refuses every push with middleware.ErrRateLimited
	// until Redis answers again: never over the budget, but nothing goes.
	FallbackRefuse
)

// Option configures NewLimiter, NewMediaCache and NewOutboxStore; each
// ignores the options that are not its own.
type Option func(*config)

type config struct {
	prefix   string
	fallback Fallback
	logger   *slog.Logger
	timeout  time.Duration
	cooldown time.Duration
	now      func() time.Time

	shards       int           // outbox store
	claimTimeout time.Duration // outbox store
	retention    time.Duration // outbox store
}

func newConfig(opts []Option) config {
	c := config{prefix: "imbridge", timeout: 200 * time.Millisecond, cooldown: time.Second, now: time.Now,
		shards: 4, claimTimeout: 30 * time.Second, retention: 24 * time.Hour}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// WithPrefix starts every key with p, to share one Redis between
// environments. Default: "imbridge".
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithFallback sets what the limiter does while Redis cannot answer.
// Default: FallbackLocal.
func WithFallback(f Fallback) Option { return func(c *config) { c.fallback = f } }

// WithLogger gets a record when Redis stops answering and when it answers
// again: once per outage, never per push. Default: discarded.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTimeout bounds each Redis call, on top of the push's own deadline, so
// that a slow Redis costs a push at most d before the fallback applies.
// Default: 200 ms.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithRetryAfterOutage sets how long Redis is left alone after a failure
// before it is asked again, so that a dead server costs one timeout per
// period, not one per push. Default: a second.
func WithRetryAfterOutage(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.cooldown = d
		}
	}
}

// bounded runs f with the call timeout and returns by then whatever f
// does: go-redis honours a context's deadline only with
// ContextTimeoutEnabled, which is the caller's client to set, so a hung
// server could otherwise hold a push for its ReadTimeout (3 s by default).
// An abandoned call ends in go-redis's own time; its answer is dropped (a
// booking it made costs one slot until its window passes).
func (c config) bounded(ctx context.Context, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel() // here, after the select: cancelled inside f's goroutine, both cases would be ready
	done := make(chan error, 1)
	go func() { done <- f(cctx) }()
	select {
	case err := <-done:
		return err
	case <-cctx.Done():
		select {
		case err := <-done: // an answer that came with the timeout still counts
			return err
		default:
			return cctx.Err()
		}
	}
}

// WithShards spreads an outbox's lanes over n streams, each delivered by
// one worker at a time: more shards let more replicas deliver at once.
// Every process of one outbox must use the same n. Default: 4.
func WithShards(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.shards = n
		}
	}
}

// WithClaimTimeout sets how long an outbox worker's claim on a shard lasts
// without renewal: after a crash, its jobs wait this long before another
// worker takes them. Workers renew at every poll, so it must be well
// above the Outbox's poll interval and any one push's timeout. Keep it
// under TIM's dedup window (120 s) if TIM messages are to be resent
// rather than marked maybe delivered. Default: 30 s.
func WithClaimTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.claimTimeout = d
		}
	}
}

// WithRetention sets how long an outbox keeps a sent job's status for
// Outbox.Status and Wait. Dead letters stay until resent or dropped.
// Default: 24 h.
func WithRetention(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.retention = d
		}
	}
}
