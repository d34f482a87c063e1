package middleware

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Budget is one rate budget: at most Limit sends in any Window, counted
// under Key. Backends name a bot or an app in Key by a hash, never by its
// secret, so that a shared store (Redis) holds nothing to steal.
type Budget struct {
	Key    string
	Limit  int
	Window time.Duration
	// Sends is how many sends a reservation books in this budget at once,
	// all or none, at one time: a push that takes several messages books
	// them all before the first leaves. 0 means 1; more than Limit can
	// never be booked and is ErrInvalidOption.
	Sends int
}

// sends is how many sends b books.
func (b Budget) sends() int { return max(b.Sends, 1) }

// Reservation is a Limiter's answer to one send.
type Reservation struct {
	// OK says a slot was booked in every budget.
	OK bool
	// Delay is how long to wait before sending when OK; when not, how long
	// until a slot frees.
	Delay time.Duration
	// Cancel gives an OK booking back, when the send will not happen (its
	// wait was cancelled). It may be nil.
	Cancel func()
}

// Limiter books sends against rate budgets before a request leaves, so that
// a message the platform would refuse (WeCom's 45009, TIM's 90024) is never
// sent. Both backends take one (wecom.WithLimiter, timchat.WithLimiter);
// the default is a MemoryLimiter per backend Client, and package redisstate
// shares one budget between processes. Implementations must be safe for
// concurrent use.
type Limiter interface {
	// Reserve books one send (Budget.Sends of them) against every budget,
	// all or none, at the earliest time that keeps each under its limit. When that is more
	// than maxWait away (maxWait < 0: no bound) it books nothing and says
	// how long until a slot frees.
	Reserve(ctx context.Context, budgets []Budget, maxWait time.Duration) (Reservation, error)
}

// WaitTurn waits for l's slot for one send: nil when the send may go now.
// A slot is a chance to send: one that leaves less than SendAllowance (or
// half the time left) before ctx's deadline to send and hear the answer is
// a *LimitError at once, naming backend and reason and saying when a slot
// frees, with nothing booked and nothing sent. A slot free now is always
// taken. A wait that ctx ends gives the slot back and returns ctx's error. A call's WithMaxWait bounds the wait further: an
// outbox delivers with WithMaxWait(0), so that a slot not free now is that
// *LimitError and the outbox waits, merging what queues up meanwhile.
func WaitTurn(ctx context.Context, l Limiter, backend, reason string, budgets []Budget) error {
	if l == nil || len(budgets) == 0 {
		return nil
	}
	maxWait := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		maxWait = max(left-min(SendAllowance, left/2), 0)
	}
	if d, ok := ctx.Value(maxWaitKey{}).(time.Duration); ok && (maxWait < 0 || d < maxWait) {
		maxWait = d // WithMaxWait; an outbox delivering waits for slots itself
	}
	r, err := l.Reserve(ctx, budgets, maxWait)
	if err != nil {
		return err
	}
	if o := ObserverFrom(ctx); o != nil {
		o.Wait(ctx, WaitInfo{Backend: backend, Reason: reason, Wait: r.Delay, Refused: !r.OK})
	}
	if !r.OK {
		return &LimitError{Backend: backend, Reason: reason + "; the next slot leaves no time to send before the deadline, or is past the call's WithMaxWait", RetryAfter: r.Delay}
	}
	if r.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(r.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		if r.Cancel != nil {
			r.Cancel()
		}
		return ctx.Err()
	}
}

// maxWaitKey carries a call's WithMaxWait: WaitTurn refuses a slot further
// away at once, with the delay, instead of sleeping.
type maxWaitKey struct{}

// MemoryLimiter is a Limiter in this process: a sliding-window log per
// budget, so that no window of Window length, wherever it starts, holds
// more than Limit sends (safe whether the platform counts fixed or sliding
// minutes). Each send books the earliest free time, so waiting senders
// queue fairly instead of waking in a herd.
type MemoryLimiter struct {
	mu   sync.Mutex
	logs map[string][]int64 // unix nanos of sends in the window and booked ones, sorted
	now  func() time.Time
}

// NewMemoryLimiter returns an empty MemoryLimiter on the clock now (nil:
// time.Now).
func NewMemoryLimiter(now func() time.Time) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{logs: map[string][]int64{}, now: now}
}

// Reserve books one send against every budget; see Limiter.
func (m *MemoryLimiter) Reserve(_ context.Context, budgets []Budget, maxWait time.Duration) (Reservation, error) {
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return Reservation{}, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	at := now
	for _, b := range budgets {
		log := m.prune(b, now)
		if k, room := len(log), b.Limit-b.sends(); k > room {
			// The (room+1)-th latest send, plus a window: no window then
			// holds more than Limit, these sends and bookings included.
			at = max(at, log[k-room-1]+int64(b.Window))
		}
	}
	delay := time.Duration(at - now)
	if maxWait >= 0 && delay > maxWait {
		return Reservation{Delay: delay}, nil
	}
	for _, b := range budgets {
		log := m.logs[b.Key]
		i, _ := slices.BinarySearch(log, at)
		m.logs[b.Key] = slices.Insert(log, i, slices.Repeat([]int64{at}, b.sends())...)
	}
	return Reservation{OK: true, Delay: delay, Cancel: func() { m.release(budgets, at) }}, nil
}

// Book records a send at at in every budget, whatever their limits: for
// a limiter that keeps a copy of bookings made elsewhere, such as
// redisstate's, whose fallback then goes on from what was sent.
func (m *MemoryLimiter) Book(budgets []Budget, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := at.UnixNano()
	for _, b := range budgets {
		log := m.prune(b, m.now().UnixNano())
		i, _ := slices.BinarySearch(log, t)
		m.logs[b.Key] = slices.Insert(log, i, slices.Repeat([]int64{t}, b.sends())...)
	}
}

// Validate refuses a budget no send could meet: a limit below 1 or a
// window that is not positive is ErrInvalidOption. (A backend with pacing
// off passes no budget at all.)
func (b Budget) Validate() error {
	switch {
	case b.Limit < 1 || b.Window <= 0:
		return fmt.Errorf("%w: budget %q: limit %d per %s: a budget needs a limit of at least 1 and a positive window", ErrInvalidOption, b.Key, b.Limit, b.Window)
	case b.Sends > b.Limit:
		return fmt.Errorf("%w: budget %q: %d sends at once, more than its limit of %d per %s", ErrInvalidOption, b.Key, b.Sends, b.Limit, b.Window)
	}
	return nil
}

// prune drops sends that left b's window and returns what is left.
func (m *MemoryLimiter) prune(b Budget, now int64) []int64 {
	log := m.logs[b.Key]
	old := 0
	for old < len(log) && log[old] <= now-int64(b.Window) {
		old++
	}
	log = log[old:]
	if len(log) == 0 {
		delete(m.logs, b.Key) // keys of idle chats do not pile up
		return nil
	}
	m.logs[b.Key] = log
	return log
}

// release gives a booking back to every budget.
func (m *MemoryLimiter) release(budgets []Budget, at int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range budgets {
		log := m.logs[b.Key]
		if i, found := slices.BinarySearch(log, at); found {
			m.logs[b.Key] = slices.Delete(log, i, min(i+b.sends(), len(log)))
		}
	}
}

// Booked counts the sends a budget key holds: in its window, or booked
// ahead. For tests and metrics.
func (m *MemoryLimiter) Booked(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.logs[key])
}
