package redisstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware/wecom"
)

var (
	_ wecom.MediaCache  = (*MediaCache)(nil)
	_ wecom.MediaLocker = (*MediaCache)(nil)
)

// unlockScript deletes a lock only if it still holds this holder's token:
// a lock that expired and was taken by another process is not released.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// MediaCache is a wecom.MediaCache every process of a bot shares: an upload
// done by one is reused by all until it is three days old less
// wecom.CacheMargin, and, as a wecom.MediaLocker, N processes pushing the
// same new file at once upload it once. Entries expire in Redis by
// themselves. While Redis cannot answer, Get misses and Lock fails, so the
// push uploads on its own. It is safe for concurrent use.
type MediaCache struct {
	rdb    redis.UniversalClient
	cfg    config
	health *health
}

// NewMediaCache returns a MediaCache on rdb. A nil rdb or a bad option is
// middleware.ErrInvalidOption.
func NewMediaCache(rdb redis.UniversalClient, opts ...Option) (*MediaCache, error) {
	cfg, err := newConfig(rdb, opts)
	if err != nil {
		return nil, err
	}
	return &MediaCache{rdb: rdb, cfg: cfg, health: newHealth(cfg, "media cache")}, nil
}

// key names an entry by a hash of wecom's cache key (which holds the file
// name, user data).
func (m *MediaCache) key(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return m.cfg.prefix + ":wecom-media:" + kind + ":" + hex.EncodeToString(sum[:16])
}

// call runs f with the call timeout, unless Redis is in an outage.
func (m *MediaCache) call(ctx context.Context, f func(ctx context.Context) error) error {
	if !m.health.usable() {
		return errOutage
	}
	err := m.cfg.bounded(ctx, f)
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		m.health.ok()
	case ctx.Err() == nil:
		m.health.fail(err)
	}
	return err
}

var errOutage = errors.New("redisstate: Redis is in an outage")

// Get returns the media_id stored under key and when it was uploaded.
func (m *MediaCache) Get(ctx context.Context, key string) (string, time.Time, bool) {
	var v string
	err := m.call(ctx, func(ctx context.Context) (err error) {
		v, err = m.rdb.Get(ctx, m.key("id", key)).Result()
		return err
	})
	if err != nil {
		return "", time.Time{}, false
	}
	ms, id, ok := strings.Cut(v, ":")
	at, perr := strconv.ParseInt(ms, 10, 64)
	if !ok || perr != nil || id == "" {
		return "", time.Time{}, false
	}
	return id, time.UnixMilli(at), true
}

// Put stores mediaID under key until it is too old to send.
func (m *MediaCache) Put(ctx context.Context, key, mediaID string, uploaded time.Time) {
	ttl := wecom.MediaTTL - wecom.CacheMargin - m.cfg.now().Sub(uploaded)
	if ttl <= 0 {
		return
	}
	_ = m.call(ctx, func(ctx context.Context) error {
		return m.rdb.Set(ctx, m.key("id", key), strconv.FormatInt(uploaded.UnixMilli(), 10)+":"+mediaID, ttl).Err()
	})
}

// Delete forgets key.
func (m *MediaCache) Delete(ctx context.Context, key string) {
	_ = m.call(ctx, func(ctx context.Context) error { return m.rdb.Del(ctx, m.key("id", key)).Err() })
}

// Lock takes key's upload lock for ttl (SET NX with an expiry, so a process
// that dies holding it blocks the others for ttl at most).
func (m *MediaCache) Lock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	token, lk := bookingID(), m.key("lock", key)
	var ok bool
	err := m.call(ctx, func(ctx context.Context) (err error) {
		ok, err = m.rdb.SetNX(ctx, lk, token, ttl).Result()
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return func() {
		_ = m.call(context.Background(), func(ctx context.Context) error {
			return unlockScript.Run(ctx, m.rdb, []string{lk}, token).Err()
		})
	}, true, nil
}
