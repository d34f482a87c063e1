package redisstate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware"
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
// ignores the options that are not its own. An option given a value it
// cannot take (an empty prefix, a timeout <= 0) makes the constructor
// return middleware.ErrInvalidOption, naming it.
type Option func(*config) error

type config struct {
	prefix   string
	fallback Fallback
	logger   *slog.Logger
	timeout  time.Duration
	cooldown time.Duration
	now      func() time.Time

	replicas     int           // limiter: the fallback's share
	shards       int           // outbox store
	claimTimeout time.Duration // outbox store
	retention    time.Duration // outbox store
}

func newConfig(rdb redis.UniversalClient, opts []Option) (config, error) {
	if rdb == nil {
		return config{}, fmt.Errorf("%w: redisstate: nil Redis client", middleware.ErrInvalidOption)
	}
	c := config{prefix: "imbridge", timeout: 200 * time.Millisecond, cooldown: time.Second, now: time.Now,
		shards: 16, claimTimeout: 30 * time.Second, retention: 24 * time.Hour}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: redisstate: "+format, append([]any{middleware.ErrInvalidOption}, args...)...)
}

// positive is the body of the options that take a positive duration.
func positive(name string, d time.Duration, set func()) error {
	if d <= 0 {
		return invalid("%s(%s): must be positive", name, d)
	}
	set()
	return nil
}

// WithPrefix starts every key with p, to share one Redis between
// environments. Empty is ErrInvalidOption. Default: "imbridge".
func WithPrefix(p string) Option {
	return func(c *config) error {
		if p == "" {
			return invalid("WithPrefix(\"\"): keys would collide with every other prefix's")
		}
		c.prefix = p
		return nil
	}
}

// WithFallback sets what the limiter does while Redis cannot answer. A
// value that is neither is ErrInvalidOption. Default: FallbackLocal.
func WithFallback(f Fallback) Option {
	return func(c *config) error {
		if f != FallbackLocal && f != FallbackRefuse {
			return invalid("WithFallback(%d): not a Fallback", f)
		}
		c.fallback = f
		return nil
	}
}

// WithLogger gets a record when Redis stops answering and when it answers
// again: once per outage, never per push. nil discards them. Default:
// discarded.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithTimeout bounds each Redis call, on top of the push's own deadline, so
// that a slow Redis costs a push at most d before the fallback applies.
// d <= 0 is ErrInvalidOption. Default: 200 ms.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithTimeout", d, func() { c.timeout = d })
	}
}

// WithRetryAfterOutage sets how long Redis is left alone after a failure
// before it is asked again, so that a dead server costs one timeout per
// period, not one per push. d <= 0 is ErrInvalidOption. Default: a second.
func WithRetryAfterOutage(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithRetryAfterOutage", d, func() { c.cooldown = d })
	}
}

// bounded runs f with the call timeout and returns by then whatever f
// does: go-redis honours a context's deadline only with
// ContextTimeoutEnabled, which is the caller's client to set, so a hung
// server could otherwise hold a push for its ReadTimeout (3 s by default).
// An abandoned call ends in go-redis's own time; its answer is dropped.
func (c config) bounded(ctx context.Context, f func(ctx context.Context) error) error {
	return c.boundedOr(ctx, f, nil)
}

// boundedOr is bounded, and runs late, if not nil, when an abandoned call
// ends after all: to undo what it did (a booking nobody will use).
func (c config) boundedOr(ctx context.Context, f func(ctx context.Context) error, late func()) error {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	done := make(chan error, 1)
	go func() { done <- f(cctx) }()
	select {
	case err := <-done:
		cancel()
		return err
	case <-cctx.Done():
		select {
		case err := <-done: // an answer that came with the timeout still counts
			cancel()
			return err
		default:
		}
		if late != nil {
			go func() {
				<-done
				late()
			}()
		}
		cancel()
		return cctx.Err()
	}
}

// WithFallbackShare tells the limiter that n replicas share its budgets:
// while Redis cannot answer (FallbackLocal), this one paces itself at
// 1/n of each budget (at least 1), so that together they stay near it.
// n < 1 is ErrInvalidOption. Default: 1, the whole budget, as if alone.
func WithFallbackShare(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithFallbackShare(%d): at least 1", n)
		}
		c.replicas = n
		return nil
	}
}

// WithShards spreads an outbox's lanes over n streams, each delivered by
// one worker at a time. Workers share them: with W live workers (each
// Claim is a heartbeat) a worker holds at most ceil(n/W) leases, and gives
// back idle ones beyond that when more workers come. More shards let
// more replicas deliver at once; every process of one outbox must use the
// same n. n < 1 is ErrInvalidOption. Default: 16, so that up to 16
// replicas each get a share.
func WithShards(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithShards(%d): at least 1", n)
		}
		c.shards = n
		return nil
	}
}

// WithClaimTimeout sets how long an outbox worker's claim on a shard lasts
// without renewal: after a crash, its jobs wait this long before another
// worker takes them. Workers renew at every poll, so it must be well
// above the Outbox's poll interval and any one push's timeout. Keep it
// under TIM's dedup window (120 s) if TIM messages are to be resent
// rather than marked maybe delivered. d <= 0 is ErrInvalidOption.
// Default: 30 s.
func WithClaimTimeout(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithClaimTimeout", d, func() { c.claimTimeout = d })
	}
}

// WithRetention sets how long an outbox keeps a sent job's status for
// Outbox.Status and Wait. Dead letters stay until resent or dropped.
// d <= 0 is ErrInvalidOption. Default: 24 h.
func WithRetention(d time.Duration) Option {
	return func(c *config) error {
		return positive("WithRetention", d, func() { c.retention = d })
	}
}
