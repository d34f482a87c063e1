package redisstate

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Marks are the alert gateway's dedup marks (gateway.Marks) in Redis,
// shared by every replica: one key per notification, reserved with SET NX
// and committed or dropped by a script that checks the reserving token,
// so that a replica whose hold lapsed never overwrites another's mark.
// Errors are returned, never hidden: the gateway answers 503 and the
// sender retries.
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

// pendingValue is a reservation's value, and pending what Reserve answers
// for another's (gateway.Pending).
const pending = "pending"

func pendingValue(token string) string { return pending + ":" + token }

// Reserve implements gateway.Marks.
func (m *Marks) Reserve(ctx context.Context, key, token string, hold time.Duration) (string, error) {
	var held string
	err := m.cfg.bounded(ctx, func(ctx context.Context) error {
		for range 2 { // a mark that lapses between SET and GET is taken on the second turn
			ok, err := m.rdb.SetNX(ctx, m.key(key), pendingValue(token), hold).Result()
			if err != nil || ok {
				held = ""
				return err
			}
			v, err := m.rdb.Get(ctx, m.key(key)).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return err
			}
			held = v
			if strings.HasPrefix(v, pending+":") {
				held = pending
			}
			return nil
		}
		held = pending
		return nil
	})
	if err != nil {
		return "", err // held is the abandoned call's to write: not read
	}
	return held, nil
}

var commitMark = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)

// Commit implements gateway.Marks.
func (m *Marks) Commit(ctx context.Context, key, token, value string, window time.Duration) (bool, error) {
	var ok bool
	err := m.cfg.bounded(ctx, func(ctx context.Context) error {
		n, err := commitMark.Run(ctx, m.rdb, []string{m.key(key)}, pendingValue(token), value, window.Milliseconds()).Int()
		ok = n == 1
		return err
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

var abortMark = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Abort implements gateway.Marks.
func (m *Marks) Abort(ctx context.Context, key, token string) error {
	return m.cfg.bounded(ctx, func(ctx context.Context) error {
		return abortMark.Run(ctx, m.rdb, []string{m.key(key)}, pendingValue(token)).Err()
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
