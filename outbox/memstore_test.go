package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryStoreForgetsSentJobs: sent jobs go after the retention, dead
// letters stay.
func TestMemoryStoreForgetsSentJobs(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	m := NewMemoryStore(time.Hour)
	m.now = func() time.Time { return now }
	for _, id := range []string{"sent", "dead"} {
		require.NoError(t, m.Add(ctx, &Job{JobStatus: JobStatus{ID: id, State: JobQueued}, Lane: id}))
	}
	jobs, err := m.Claim(ctx, "w", 10)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	jobs[0].State, jobs[0].Updated = JobSent, now
	jobs[1].State, jobs[1].Updated = JobMaybeDelivered, now
	require.NoError(t, m.Save(ctx, "w", jobs))

	now = now.Add(59 * time.Minute)
	_, _ = m.Claim(ctx, "w", 10)
	_, err = m.Job(ctx, "sent")
	require.NoError(t, err, "kept within the retention")

	now = now.Add(2 * time.Minute)
	_, _ = m.Claim(ctx, "w", 10)
	_, err = m.Job(ctx, "sent")
	assert.ErrorIs(t, err, ErrJobNotFound, "forgotten after it")
	_, err = m.Job(ctx, "dead")
	assert.NoError(t, err, "dead letters stay until resent or dropped")
}
