package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var errAttempt = errors.New("attempt failed")

func TestRun(t *testing.T) {
	t.Parallel()
	p := Policy{Attempts: 3}
	tests := []struct {
		name     string
		outcomes []Outcome // by call; the last repeats
		ctx      func() (context.Context, context.CancelFunc)
		calls    int
		err      error
	}{
		{"success at once", []Outcome{{}}, nil, 1, nil},
		{"final failure", []Outcome{{Err: errAttempt}}, nil, 1, errAttempt},
		{"retried until spent", []Outcome{{Err: errAttempt, Retry: true}}, nil, 3, errAttempt},
		{"retried, then success", []Outcome{{Err: errAttempt, Retry: true}, {}}, nil, 2, nil},
		{"a free retry does not count", []Outcome{{Err: errAttempt, Retry: true, Free: true}, {Err: errAttempt, Retry: true}}, nil, 4, errAttempt},
		{"a wait past the deadline ends it", []Outcome{{Err: errAttempt, Retry: true, Wait: time.Hour}},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Minute)
			}, 1, errAttempt},
		{"a free wait past the deadline ends it too", []Outcome{{Err: errAttempt, Retry: true, Free: true, Wait: time.Hour}},
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Minute)
			}, 1, errAttempt},
		{"a cancelled wait returns the attempt's error", []Outcome{{Err: errAttempt, Retry: true, Wait: time.Millisecond}},
			func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			}, 1, errAttempt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			calls := 0
			var ns []int
			err := p.Run(ctx, func(n int) Outcome {
				ns = append(ns, n)
				o := tt.outcomes[min(calls, len(tt.outcomes)-1)]
				calls++
				return o
			})
			assert.Equal(t, tt.err, err)
			assert.Equal(t, tt.calls, calls)
			if tt.name == "a free retry does not count" {
				assert.Equal(t, []int{1, 1, 2, 3}, ns)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	_, err := New("wecom", 0, time.Second)
	assert.Error(t, err)
	p, err := New("wecom", 2, time.Millisecond)
	assert.NoError(t, err)
	assert.Equal(t, Policy{Attempts: 2, Backoff: time.Millisecond}, p)
	for range 100 {
		d := p.Delay(3)
		assert.GreaterOrEqual(t, d, 2*time.Millisecond)
		assert.LessOrEqual(t, d, 4*time.Millisecond)
	}
}
