package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imbridge/middleware"
)

// Inspector reads and tends an outbox's store without a Client or a
// running Outbox: list the dead letters, read a job, resend or drop one.
// The imbridge CLI's outbox commands are built on it. It is safe for
// concurrent use, beside any number of running Outboxes.
type Inspector struct {
	store Store
}

// NewInspector returns an Inspector of store.
func NewInspector(store Store) (*Inspector, error) {
	if store == nil {
		return nil, invalid("NewInspector(nil)")
	}
	return &Inspector{store: store}, nil
}

// JobInfo is a job as an Inspector shows it: its status and where it goes,
// without its content.
type JobInfo struct {
	JobStatus
	// Helper, IM, Account, GroupCode, UserID and Title say what the job
	// pushes, from which account to which target.
	Helper                   middleware.Helper
	IM, Account              string
	GroupCode, UserID, Title string
	// Items are the types of its items, in order.
	Items []middleware.ItemType
}

// info describes j; a push that cannot be read back shows its status only.
func info(j *Job) JobInfo {
	ji := JobInfo{JobStatus: j.JobStatus}
	s, err := decodeSpec(j.Spec)
	if err != nil {
		return ji
	}
	ji.Helper, ji.IM, ji.Account, ji.GroupCode, ji.UserID, ji.Title = s.Helper, s.IM, s.Account, s.Group, s.User, s.Title
	for _, it := range s.Items {
		ji.Items = append(ji.Items, it.Type)
	}
	return ji
}

// Job returns job id: ErrJobNotFound if the store knows none.
func (in *Inspector) Job(ctx context.Context, id string) (JobInfo, error) {
	j, err := in.store.Job(ctx, id)
	if err != nil {
		return JobInfo{}, err
	}
	return info(j), nil
}

// DeadLetters returns up to max jobs no Outbox will deliver on its own,
// oldest first: JobFailed and JobMaybeDelivered, each with its target and
// last error. max < 1 returns none.
func (in *Inspector) DeadLetters(ctx context.Context, max int) ([]JobInfo, error) {
	if max < 1 {
		return nil, nil
	}
	jobs, err := in.store.DeadLetters(ctx, max)
	if err != nil {
		return nil, err
	}
	out := make([]JobInfo, len(jobs))
	for i, j := range jobs {
		out[i] = info(j)
	}
	return out, nil
}

// Resend queues dead letter id again, at the end of its lane, as the
// caller's decision: a JobMaybeDelivered push may then show twice on
// WeCom. It keeps its idempotency key, so TIM still drops it if the first
// send arrived less than its dedup window ago. ErrJobNotFound if there is
// no job id, ErrNotDeadLetter if it is not a dead letter.
func (in *Inspector) Resend(ctx context.Context, id string) error {
	j, err := in.deadLetter(ctx, id)
	if err != nil {
		return err
	}
	j.State, j.Sent, j.LastErrorClass, j.LastError, j.Attempts = JobQueued, 0, "", "", 0
	j.FirstAttempt, j.NotBefore, j.Batch, j.Updated = time.Time{}, time.Time{}, nil, time.Now()
	return in.changed(ctx, id, in.store.Requeue(ctx, j))
}

// Drop forgets dead letter id. ErrJobNotFound if there is no job id,
// ErrNotDeadLetter if it is not a dead letter.
func (in *Inspector) Drop(ctx context.Context, id string) error {
	if _, err := in.deadLetter(ctx, id); err != nil {
		return err
	}
	return in.changed(ctx, id, in.store.Drop(ctx, id))
}

func (in *Inspector) deadLetter(ctx context.Context, id string) (*Job, error) {
	j, err := in.store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if !j.State.Dead() {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotDeadLetter, id, j.State)
	}
	return j, nil
}

// changed tells apart, when the store refused a change, a job resent or
// dropped meanwhile by someone else (ErrNotDeadLetter) from one gone.
func (in *Inspector) changed(ctx context.Context, id string, err error) error {
	if !errors.Is(err, ErrJobNotFound) {
		return err
	}
	if _, e := in.deadLetter(ctx, id); e != nil {
		return e
	}
	return err
}
