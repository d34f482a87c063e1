package gateway

import (
	"context"
	"sync"
	"time"
)

// Marks remember which notifications were taken, so that the copies
// Alertmanager's HA peers send, and their retries, are delivered once, by
// whichever replica took the first. redisstate.Marks shares them across
// replicas; MemoryMarks keeps them in this process.
//
// A replica reserves a notification's key before it queues its jobs and
// commits the jobs' ids after. A reservation carries a stamp, from which
// the jobs' idempotency keys are made. When its holder dies between the
// two (or gives up with Release), its hold lapses and the next copy takes
// the reservation over with the same stamp: its jobs get the same keys,
// so what the dead holder queued is found in the store, not queued again,
// and what it had not queued is queued now. Nothing is lost and nothing
// is sent twice.
type Marks interface {
	// Reserve takes key for token for hold, keeping the key for window,
	// and returns the stamp to make the jobs' keys from in held: stamp,
	// or the stamp of a lapsed reservation it took over. When it cannot
	// take the key it returns the committed value in value, or, while
	// another holder's hold runs, neither.
	Reserve(ctx context.Context, key, token, stamp string, hold, window time.Duration) (held, value string, err error)
	// Commit sets the key token holds to value for window. It returns
	// false when token no longer holds it (its hold lapsed and another
	// took it over).
	Commit(ctx context.Context, key, token, value string, window time.Duration) (bool, error)
	// Release ends token's hold at once, keeping the stamp for the next
	// copy to take over.
	Release(ctx context.Context, key, token string) error
}

// MemoryMarks are Marks in this process. Safe for concurrent use.
type MemoryMarks struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]mark
}

type mark struct {
	token, stamp string    // a reservation's
	holdUntil    time.Time // when its hold lapses
	value        string    // once committed
	until        time.Time // when the mark is forgotten
}

// NewMemoryMarks returns empty Marks.
func NewMemoryMarks() *MemoryMarks { return &MemoryMarks{now: time.Now, m: map[string]mark{}} }

// Reserve implements Marks.
func (s *MemoryMarks) Reserve(_ context.Context, key, token, stamp string, hold, window time.Duration) (held, value string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	m, ok := s.m[key]
	if ok && now.Before(m.until) {
		switch {
		case m.value != "":
			return "", m.value, nil
		case now.Before(m.holdUntil):
			return "", "", nil
		}
		stamp = m.stamp // a lapsed hold: taken over, with its stamp
	}
	s.sweep(now)
	s.m[key] = mark{token: token, stamp: stamp, holdUntil: now.Add(hold), until: now.Add(window)}
	return stamp, "", nil
}

// Commit implements Marks.
func (s *MemoryMarks) Commit(_ context.Context, key, token, value string, window time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if m, ok := s.m[key]; ok && now.Before(m.until) && (m.value != "" || m.token != token) {
		return false, nil
	}
	s.m[key] = mark{value: value, until: now.Add(window)}
	return true, nil
}

// Release implements Marks.
func (s *MemoryMarks) Release(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.m[key]; ok && m.value == "" && m.token == token {
		m.holdUntil = time.Time{}
		s.m[key] = m
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

// Journal keeps the last entries of each route, newest first, for GET
// /history/{route}. redisstate.Journal shares it across replicas.
type Journal interface {
	// Append adds entry to route's list and keeps the newest keep.
	Append(ctx context.Context, route string, entry []byte, keep int) error
	// Recent returns up to n entries of route, newest first.
	Recent(ctx context.Context, route string, n int) ([][]byte, error)
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
