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

// recordingObserver keeps what it is told.
type recordingObserver struct {
	mu     sync.Mutex
	starts []PushInfo
	ends   []PushResult
	infos  []PushInfo
	waits  []WaitInfo
	seen   []string // "start", "attempt", "end", in order
}

type ctxMark struct{}

func (r *recordingObserver) PushStart(ctx context.Context, p PushInfo) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, p)
	r.seen = append(r.seen, "start")
	return context.WithValue(ctx, ctxMark{}, "from PushStart")
}

func (r *recordingObserver) PushEnd(ctx context.Context, p PushInfo, res PushResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.infos, r.ends = append(r.infos, p), append(r.ends, res)
	r.seen = append(r.seen, "end")
}

func (r *recordingObserver) Attempt(ctx context.Context, a AttemptInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, "attempt")
}

func (r *recordingObserver) Wait(ctx context.Context, w WaitInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, w)
}

func (r *recordingObserver) Upload(context.Context, UploadInfo) {}

func TestObserverSeesEveryPush(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	f := &fakeBackend{send: func(ctx context.Context, m *Message) (int, error) {
		// The backend gets the context PushStart returned, with the
		// Observer in it.
		assert.Equal(t, "from PushStart", ctx.Value(ctxMark{}))
		require.Same(t, obs, ObserverFrom(ctx))
		ObserverFrom(ctx).Attempt(ctx, AttemptInfo{Backend: "x"})
		if m.Items[0].Text == "fail" {
			return 0, &APIError{Backend: "x", Code: 45009, Kind: ErrRateLimited}
		}
		return 1, nil
	}}
	c, err := NewClient(WithObserver(obs), WithAccount(Account{ID: "ops", IM: "x", Default: true, Backend: f}))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Push(ctx, "x", "g", "", "", "ok")
	require.NoError(t, err)
	_, err = c.Push(ctx, "x", "g", "u", "", "fail")
	require.Error(t, err)
	_, err = c.Push(ctx, "x", "g", "", "", "") // refused before send starts
	require.Error(t, err)

	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Equal(t, []string{"start", "attempt", "end", "start", "attempt", "end", "start", "end"}, obs.seen)
	require.Len(t, obs.ends, 3)
	assert.Equal(t, PushInfo{Helper: "push", IM: "x", Account: "ops", Target: "group", Items: []ItemType{TextItem}, Start: obs.infos[0].Start}, obs.infos[0])
	assert.Equal(t, 1, obs.ends[0].Sent)
	assert.Empty(t, obs.ends[0].Class)
	assert.Equal(t, "group+user", obs.infos[1].Target)
	assert.Equal(t, "rate_limited", obs.ends[1].Class)
	assert.Equal(t, err.Error(), obs.ends[2].Err.Error(), "the observer gets the caller's error, prefix included")
	assert.Equal(t, "invalid_item", obs.ends[2].Class)
	var api *APIError
	assert.True(t, errors.As(obs.ends[1].Err, &api))
}

func TestWaitTurnReportsWaits(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	ctx := ContextWithObserver(context.Background(), obs)
	l := NewMemoryLimiter(nil)
	b := []Budget{{Key: "k", Limit: 1, Window: time.Hour}}
	require.NoError(t, WaitTurn(ctx, l, "wecom", "1 per hour", b))
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	require.ErrorIs(t, WaitTurn(short, l, "wecom", "1 per hour", b), ErrRateLimited)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Len(t, obs.waits, 2)
	assert.Equal(t, WaitInfo{Backend: "wecom", Reason: "1 per hour"}, obs.waits[0])
	assert.True(t, obs.waits[1].Refused)
	assert.Greater(t, obs.waits[1].Wait, 59*time.Minute)
}
