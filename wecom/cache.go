package wecom

import (
	"context"
	"sync"
	"time"
)

// MediaTTL is how long WeCom keeps a media_id. Cached ids are reused until
// MediaTTL minus CacheMargin after their upload.
const (
	MediaTTL    = 72 * time.Hour
	CacheMargin = time.Hour
)

// MediaCache remembers media_ids by content, so the same file pushed again
// within three days is not uploaded again. Keys name the bot (by a hash,
// never the key itself), the upload type, the display name and the
// content's sha256. Implementations must be safe for concurrent use.
type MediaCache interface {
	Get(ctx context.Context, key string) (mediaID string, uploaded time.Time, ok bool)
	Put(ctx context.Context, key, mediaID string, uploaded time.Time)
	Delete(ctx context.Context, key string)
}

// MediaLocker is a MediaCache shared by several processes that can make one
// of them upload a file none has uploaded yet while the others wait for its
// media_id, so N processes pushing the same new file upload it once.
type MediaLocker interface {
	// Lock takes key's upload lock for at most ttl. ok is false when
	// another process holds it; unlock gives an acquired lock back.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// Upload lock timing: the lock outlives a slow 20 MB upload; a process that
// did not get it waits for the uploader's media_id at most this long (and
// at most half of what is left of its deadline), then uploads itself.
const (
	uploadLockTTL  = 2 * time.Minute
	uploadMaxWait  = 30 * time.Second
	uploadPollWait = 50 * time.Millisecond
)

// MemoryCache is the default MediaCache: a map in this process. Entries
// older than MediaTTL are dropped as new ones come in.
type MemoryCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	id string
	at time.Time
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache { return &MemoryCache{entries: make(map[string]cacheEntry)} }

// Get returns the media_id stored under key.
func (m *MemoryCache) Get(_ context.Context, key string) (string, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	return e.id, e.at, ok
}

// Put stores mediaID under key, and drops expired entries.
func (m *MemoryCache) Put(_ context.Context, key, mediaID string, uploaded time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.entries {
		if uploaded.Sub(e.at) > MediaTTL {
			delete(m.entries, k)
		}
	}
	m.entries[key] = cacheEntry{id: mediaID, at: uploaded}
}

// Delete forgets key.
func (m *MemoryCache) Delete(_ context.Context, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
}
