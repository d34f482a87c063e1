package redisstate

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Marks are the alert gateway's dedup marks (gateway.Marks) in Redis,
// shared by every replica: one key per notification, reserved, taken over
// when its holder's hold lapsed, and committed or released, each in one
// script on the Redis server's clock, so that a replica whose hold lapsed
// never overwrites another's mark. Errors are returned, never hidden: the
// gateway answers 503 and the sender retries.
type Marks struct {
	rdb redis.UniversalClient
	cfg config
}

// NewMarks returns the Marks of rdb. Options: WithPrefix, WithTimeout.
func NewMarks(rdb redis.UniversalClient, opts ...Option) (*Marks, error) {
	cfg, err := newConfig(rdb, opts)
	if err != nil {
		return nil, err
	}
	return &Marks{rdb: rdb, cfg: cfg}, nil
}

func (m *Marks) key(k string) string { return m.cfg.prefix + ":gateway:mark:" + k }

// A mark's value is "p|TOKEN|STAMP|HOLD_UNTIL_MS" while reserved and
// "v|VALUE" once committed. Tokens and stamps are the gateway's hex.
var reserveMark = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stamp = ARGV[2]
if v then
  if string.sub(v, 1, 2) == 'v|' then return {'done', string.sub(v, 3)} end
  local tok, st, deadline = string.match(v, '^p|([^|]*)|([^|]*)|(%d+)$')
  if deadline and now < tonumber(deadline) then return {'pending', ''} end
  if st then stamp = st end
end
redis.call('SET', KEYS[1], 'p|' .. ARGV[1] .. '|' .. stamp .. '|' .. (now + tonumber(ARGV[3])), 'PX', ARGV[4])
return {'taken', stamp}`)

// Reserve implements gateway.Marks.
func (m *Marks) Reserve(ctx context.Context, key, token, stamp string, hold, window time.Duration) (held, value string, err error) {
	var res []any
	err = m.cfg.bounded(ctx, func(ctx context.Context) error {
		var err error
		res, err = reserveMark.Run(ctx, m.rdb, []string{m.key(key)}, token, stamp, hold.Milliseconds(), window.Milliseconds()).Slice()
		return err
	})
	if err != nil {
		return "", "", err // res is the abandoned call's to write: not read
	}
	if len(res) != 2 {
		return "", "", errors.New("redisstate: unexpected answer to the reserve script")
	}
	what, _ := res[0].(string)
	arg, _ := res[1].(string)
	switch what {
	case "taken":
		return arg, "", nil
	case "done":
		return "", arg, nil
	}
	return "", "", nil
}

var commitMark = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 3 + string.len(ARGV[1])) ~= 'p|' .. ARGV[1] .. '|' then return 0 end
redis.call('SET', KEYS[1], 'v|' .. ARGV[2], 'PX', ARGV[3])
return 1`)

// Commit implements gateway.Marks.
func (m *Marks) Commit(ctx context.Context, key, token, value string, window time.Duration) (bool, error) {
	var ok bool
	err := m.cfg.bounded(ctx, func(ctx context.Context) error {
		n, err := commitMark.Run(ctx, m.rdb, []string{m.key(key)}, token, value, window.Milliseconds()).Int()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

var releaseMark = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local tok, st = string.match(v, '^p|([^|]*)|([^|]*)|%d+$')
if tok ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'p|' .. tok .. '|' .. st .. '|0', 'KEEPTTL')
return 1`)

// Release implements gateway.Marks.
func (m *Marks) Release(ctx context.Context, key, token string) error {
	return m.cfg.bounded(ctx, func(ctx context.Context) error {
		return releaseMark.Run(ctx, m.rdb, []string{m.key(key)}, token).Err()
	})
}

// Journal is the alert gateway's history (gateway.Journal) in Redis: a
// capped list per route, shared by every replica.
type Journal struct {
	rdb redis.UniversalClient
	cfg config
}

// NewJournal returns the Journal of rdb. Options: WithPrefix, WithTimeout.
func NewJournal(rdb redis.UniversalClient, opts ...Option) (*Journal, error) {
	cfg, err := newConfig(rdb, opts)
	if err != nil {
		return nil, err
	}
	return &Journal{rdb: rdb, cfg: cfg}, nil
}

func (j *Journal) key(route string) string { return j.cfg.prefix + ":gateway:history:" + route }

// Append implements gateway.Journal: LPUSH and LTRIM in one transaction.
func (j *Journal) Append(ctx context.Context, route string, entry []byte, keep int) error {
	return j.cfg.bounded(ctx, func(ctx context.Context) error {
		_, err := j.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.LPush(ctx, j.key(route), entry)
			p.LTrim(ctx, j.key(route), 0, int64(keep)-1)
			return nil
		})
		return err
	})
}

// Recent implements gateway.Journal.
func (j *Journal) Recent(ctx context.Context, route string, n int) ([][]byte, error) {
	var out [][]byte
	err := j.cfg.bounded(ctx, func(ctx context.Context) error {
		vals, err := j.rdb.LRange(ctx, j.key(route), 0, int64(n)-1).Result()
		out = make([][]byte, len(vals))
		for i, v := range vals {
			out[i] = []byte(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
