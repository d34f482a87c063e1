package gateway

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Marks remember which notifications were taken, so that the copies
// Alertmanager's HA peers send, and their retries, are delivered once, by
// whichever replica took the first. redisstate.Marks shares them across
// replicas; MemoryMarks keeps them in this process.
//
// A key is reserved before its job is queued and committed after, so that
// a replica that dies in between does not leave a mark that drops every
// copy: its reservation lapses after the hold, and the next copy is taken.
type Marks interface {
	// Reserve takes key for token for hold. It returns "" when it did;
	// else the key's value: "pending" while another replica holds it,
	// or the value given to Commit.
	Reserve(ctx context.Context, key, token string, hold time.Duration) (string, error)
	// Commit sets the key token reserved to value for window. It returns
	// false when the reservation had lapsed and another token holds the
	// key.
	Commit(ctx context.Context, key, token, value string, window time.Duration) (bool, error)
	// Abort drops token's reservation of key, so that the next copy is
	// taken at once.
	Abort(ctx context.Context, key, token string) error
}

// Pending is what Reserve answers while another replica holds a key.
const Pending = "pending"

// Journal keeps the last entries of each route, newest first, for GET
// /history/{route}. redisstate.Journal shares it across replicas.
type Journal interface {
	// Append adds entry to route's list and keeps the newest keep.
	Append(ctx context.Context, route string, entry []byte, keep int) error
	// Recent returns up to n entries of route, newest first.
	Recent(ctx context.Context, route string, n int) ([][]byte, error)
}

// MemoryMarks are Marks in this process. Safe for concurrent use.
type MemoryMarks struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]mark
}

type mark struct {
	value string // "pending:TOKEN" or the committed value
	until time.Time
}

// NewMemoryMarks returns empty Marks.
func NewMemoryMarks() *MemoryMarks { return &MemoryMarks{now: time.Now, m: map[string]mark{}} }

// Reserve implements Marks.
func (s *MemoryMarks) Reserve(_ context.Context, key, token string, hold time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if m, ok := s.m[key]; ok && now.Before(m.until) {
		if strings.HasPrefix(m.value, "pending:") {
			return Pending, nil
		}
		return m.value, nil
	}
	s.sweep(now)
	s.m[key] = mark{value: "pending:" + token, until: now.Add(hold)}
	return "", nil
}

// Commit implements Marks.
func (s *MemoryMarks) Commit(_ context.Context, key, token, value string, window time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if m, ok := s.m[key]; ok && now.Before(m.until) && m.value != "pending:"+token {
		return false, nil
	}
	s.m[key] = mark{value: value, until: now.Add(window)}
	return true, nil
}

// Abort implements Marks.
func (s *MemoryMarks) Abort(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.m[key]; ok && m.value == "pending:"+token {
		delete(s.m, key)
	}
	return nil
}

// sweep forgets lapsed marks once the map has grown, so that memory stays
// bounded by what one window holds.
func (s *MemoryMarks) sweep(now time.Time) {
	if len(s.m) < 1024 || len(s.m)&1023 != 0 {
		return
	}
	for k, m := range s.m {
		if !now.Before(m.until) {
			delete(s.m, k)
		}
	}
}

// MemoryJournal is a Journal in this process. Safe for concurrent use.
type MemoryJournal struct {
	mu sync.Mutex
	m  map[string][][]byte // newest last
}

// NewMemoryJournal returns an empty Journal.
func NewMemoryJournal() *MemoryJournal { return &MemoryJournal{m: map[string][][]byte{}} }

// Append implements Journal.
func (j *MemoryJournal) Append(_ context.Context, route string, entry []byte, keep int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	l := append(j.m[route], entry)
	if len(l) > keep {
		l = append([][]byte(nil), l[len(l)-keep:]...)
	}
	j.m[route] = l
	return nil
}

// Recent implements Journal.
func (j *MemoryJournal) Recent(_ context.Context, route string, n int) ([][]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	l := j.m[route]
	out := make([][]byte, 0, min(n, len(l)))
	for i := len(l) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, l[i])
	}
	return out, nil
}
