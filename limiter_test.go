package middleware

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryLimiterSlidingWindow(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewMemoryLimiter(clock.Now)
	b := []Budget{{Key: "chat", Limit: 2, Window: time.Minute}}
	for range 2 {
		r, err := l.Reserve(context.Background(), b, 0)
		require.NoError(t, err)
		require.True(t, r.OK)
		assert.Zero(t, r.Delay)
	}
	// The third fits only a window after the first: refused under a short
	// bound, with the delay, and nothing booked.
	r, err := l.Reserve(context.Background(), b, time.Second)
	require.NoError(t, err)
	assert.False(t, r.OK)
	assert.Equal(t, time.Minute, r.Delay)
	assert.Equal(t, 2, l.Booked("chat"))
	// Half a window later it is still half a window away: no window of
	// a minute, wherever it starts, holds three.
	clock.Add(30 * time.Second)
	r, err = l.Reserve(context.Background(), b, -1)
	require.NoError(t, err)
	require.True(t, r.OK)
	assert.Equal(t, 30*time.Second, r.Delay)
	// Given back, the slot is free for the next sender.
	r.Cancel()
	assert.Equal(t, 2, l.Booked("chat"))
	clock.Add(30 * time.Second)
	r, err = l.Reserve(context.Background(), b, 0)
	require.NoError(t, err)
	assert.True(t, r.OK)
	assert.Equal(t, 1, l.Booked("chat"), "the two old sends left the window")
}

// All budgets or none: a full bot budget blocks a chat that has room.
func TestMemoryLimiterAllOrNone(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewMemoryLimiter(clock.Now)
	bot := Budget{Key: "bot", Limit: 1, Window: time.Minute}
	r, err := l.Reserve(context.Background(), []Budget{{Key: "a", Limit: 5, Window: time.Minute}, bot}, 0)
	require.NoError(t, err)
	require.True(t, r.OK)
	r, err = l.Reserve(context.Background(), []Budget{{Key: "b", Limit: 5, Window: time.Minute}, bot}, 0)
	require.NoError(t, err)
	assert.False(t, r.OK)
	assert.Zero(t, l.Booked("b"), "nothing booked in the chat when the bot refuses")
}

func TestWaitTurn(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewMemoryLimiter(clock.Now)
	b := []Budget{{Key: "k", Limit: 1, Window: time.Hour}}
	require.NoError(t, WaitTurn(context.Background(), l, "wecom", "1 per hour", b))

	// Past the deadline: a *LimitError at once.
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := WaitTurn(short, l, "wecom", "1 per hour", b)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, time.Hour, le.RetryAfter)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)

	// A wait that is cancelled gives its slot back.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- WaitTurn(ctx, l, "wecom", "1 per hour", b) }()
	require.Eventually(t, func() bool { return l.Booked("k") == 2 }, 5*time.Second, time.Millisecond)
	stop()
	require.True(t, errors.Is(<-done, context.Canceled))
	assert.Equal(t, 1, l.Booked("k"))
}

// TestMemoryLimiterBooksSeveralAtOnce: a push of several messages books
// them all or none.
func TestMemoryLimiterBooksSeveralAtOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	l := NewMemoryLimiter(func() time.Time { return now })
	b := func(n int) []Budget {
		return []Budget{{Key: "chat", Limit: 5, Window: time.Minute, Sends: n}}
	}
	r, err := l.Reserve(ctx, b(3), 0)
	require.NoError(t, err)
	require.True(t, r.OK)
	r, err = l.Reserve(ctx, b(3), 0)
	require.NoError(t, err)
	assert.False(t, r.OK, "3 more would make 6 in the window: none booked")
	assert.Equal(t, time.Minute, r.Delay)
	assert.Equal(t, 3, l.Booked("chat"))
	r, err = l.Reserve(ctx, b(2), 0)
	require.NoError(t, err)
	require.True(t, r.OK)
	r.Cancel()
	assert.Equal(t, 3, l.Booked("chat"), "a cancelled booking of 2 gives both back")
	_, err = l.Reserve(ctx, b(6), -1)
	assert.ErrorIs(t, err, ErrInvalidOption, "more than the limit can never be booked")
}
