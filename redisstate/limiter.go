package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware"
)

var _ middleware.Limiter = (*Limiter)(nil)

// reserveScript books sends in every budget's sliding-window log, all or
// none, at the earliest time that keeps each under its limit, on the
// server's clock. KEYS are the budgets; ARGV: the booking's id, the longest
// wait allowed in ms (-1: none), then limit, window (ms) and sends per
// key. A booking of k sends is k members "id:1".."id:k" at one time. It
// answers {1, delay ms} when booked, {0, delay ms} when the slot is past
// the wait allowed.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local maxWait = tonumber(ARGV[2])
local at = now
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  local sends = tonumber(ARGV[3 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  local room = limit - sends
  if n > room then
    local e = redis.call('ZRANGE', key, n - room - 1, n - room - 1, 'WITHSCORES')
    local free = tonumber(e[2]) + window
    if free > at then at = free end
  end
end
local delay = at - now
if maxWait >= 0 and delay > maxWait then
  return {0, delay}
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i + 1])
  local sends = tonumber(ARGV[3 * i + 2])
  for k = 1, sends do
    redis.call('ZADD', key, at, ARGV[1] .. ':' .. k)
  end
  redis.call('PEXPIRE', key, delay + window + 1000)
end
return {1, delay}
`)

// releaseScript gives a booking back: ARGV[1] is its id, ARGV[1 + i] the
// sends it booked in KEYS[i].
var releaseScript = redis.NewScript(`
for i, key in ipairs(KEYS) do
  for k = 1, tonumber(ARGV[1 + i]) do
    redis.call('ZREM', key, ARGV[1] .. ':' .. k)
  end
end
return 1
`)

// Limiter is a middleware.Limiter whose budgets every process using the
// same Redis shares. It is safe for concurrent use.
type Limiter struct {
	rdb    redis.UniversalClient
	cfg    config
	local  *middleware.MemoryLimiter
	health *health
}

// NewLimiter returns a Limiter on rdb. A nil rdb or a bad option is
// middleware.ErrInvalidOption.
func NewLimiter(rdb redis.UniversalClient, opts ...Option) (*Limiter, error) {
	cfg, err := newConfig(rdb, opts)
	if err != nil {
		return nil, err
	}
	return &Limiter{rdb: rdb, cfg: cfg, local: middleware.NewMemoryLimiter(cfg.now),
		health: newHealth(cfg, "rate limiter")}, nil
}

// Reserve books one send against every budget in one round trip to Redis;
// see middleware.Limiter. While Redis cannot answer, the fallback decides.
// Every booking made in Redis is also kept in this process's fallback
// limiter, so that during an outage a replica goes on from what it sent,
// not from nothing. A call abandoned when Redis stalls (WithTimeout) and
// answered later gives back what it booked.
func (l *Limiter) Reserve(ctx context.Context, budgets []middleware.Budget, maxWait time.Duration) (middleware.Reservation, error) {
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return middleware.Reservation{}, err
		}
	}
	if !l.health.usable() {
		return l.fallback(ctx, budgets, maxWait)
	}
	keys := make([]string, len(budgets))
	args := make([]any, 0, 2+3*len(budgets))
	id := bookingID()
	wait := int64(-1)
	if maxWait >= 0 {
		wait = maxWait.Milliseconds()
	}
	args = append(args, id, wait)
	for i, b := range budgets {
		keys[i] = l.cfg.prefix + ":" + b.Key
		args = append(args, b.Limit, max(b.Window.Milliseconds(), 1), max(b.Sends, 1))
	}
	var res []int64
	err := l.cfg.boundedOr(ctx, func(ctx context.Context) (err error) {
		res, err = reserveScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
		return err
	}, func() {
		// Answered after the push gave up on it: a booking it made is
		// nobody's.
		if len(res) == 2 && res[0] == 1 {
			l.release(keys, id, budgets)
		}
	})
	if err != nil || len(res) != 2 {
		if ctx.Err() != nil {
			return middleware.Reservation{}, ctx.Err() // the push's own deadline, not Redis
		}
		if err == nil {
			err = errors.New("unexpected answer to the reserve script")
		}
		l.health.fail(err)
		return l.fallback(ctx, budgets, maxWait)
	}
	l.health.ok()
	r := middleware.Reservation{OK: res[0] == 1, Delay: time.Duration(res[1]) * time.Millisecond}
	if r.OK {
		l.local.Book(budgets, time.Now().Add(r.Delay))
		r.Cancel = func() { l.release(keys, id, budgets) }
	}
	return r, nil
}

// release gives a booking back, bounded by the call timeout: a booking
// that cannot be given back only costs one slot until its window passes.
func (l *Limiter) release(keys []string, id string, budgets []middleware.Budget) {
	args := []any{id}
	for _, b := range budgets {
		args = append(args, max(b.Sends, 1))
	}
	_ = l.cfg.bounded(context.Background(), func(ctx context.Context) error {
		return releaseScript.Run(ctx, l.rdb, keys, args...).Err()
	})
}

func (l *Limiter) fallback(ctx context.Context, budgets []middleware.Budget, maxWait time.Duration) (middleware.Reservation, error) {
	if l.cfg.fallback == FallbackRefuse {
		return middleware.Reservation{}, &middleware.LimitError{Backend: "redisstate", RetryAfter: l.cfg.cooldown,
			Reason: "the shared limiter's Redis does not answer, and the fallback is to refuse"}
	}
	if l.cfg.replicas > 1 {
		// This replica's share of each budget, while the others cannot
		// be seen.
		shared := make([]middleware.Budget, len(budgets))
		for i, b := range budgets {
			b.Limit = max(b.Limit/l.cfg.replicas, 1)
			shared[i] = b
		}
		budgets = shared
	}
	return l.local.Reserve(ctx, budgets, maxWait)
}

func bookingID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// health tracks whether Redis answers: after a failure it is left alone
// for the cooldown, and an outage is logged once, when it starts and when
// it ends.
type health struct {
	cfg       config
	what      string
	downUntil atomic.Int64 // unix nanos
	down      atomic.Bool
}

func newHealth(cfg config, what string) *health { return &health{cfg: cfg, what: what} }

func (h *health) usable() bool { return h.cfg.now().UnixNano() >= h.downUntil.Load() }

func (h *health) fail(err error) {
	h.downUntil.Store(h.cfg.now().Add(h.cfg.cooldown).UnixNano())
	if h.down.CompareAndSwap(false, true) {
		fb := "falling back to this process's own limiter"
		if h.cfg.fallback == FallbackRefuse {
			fb = "refusing pushes"
		}
		h.cfg.logger.Warn("redisstate: Redis does not answer; "+fb+" until it does",
			"what", h.what, "error", err.Error(), "retry_every", h.cfg.cooldown.String())
	}
}

func (h *health) ok() {
	if h.down.CompareAndSwap(true, false) {
		h.cfg.logger.Info("redisstate: Redis answers again", "what", h.what)
	}
}
