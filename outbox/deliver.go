package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imbridge/middleware"
)

// deliver sends the head of a lane, merged with the texts behind it when
// they may be, and records what came of it. jobs are its own copies.
func (o *Outbox) deliver(ctx context.Context, name string, jobs []*Job) laneResult {
	res := laneResult{lane: name}
	a, err := o.compose(ctx, jobs)
	res.jobs = a.jobs
	if err != nil {
		return o.refused(ctx, res, a, err)
	}
	now := time.Now()
	if a.jobs[0].State == JobSending && !a.redeliverable(now) {
		// A worker stopped (or lost its answer) after a request may have
		// left, and the platform would not drop a repeat now.
		return o.finish(ctx, res, a, JobMaybeDelivered, 0,
			fmt.Errorf("%w: a request for it may have left before its worker stopped or lost the answer", middleware.ErrMaybeDelivered))
	}
	for _, j := range a.jobs {
		j.State, j.Attempts, j.Updated = JobSending, j.Attempts+1, now
		if j.FirstAttempt.IsZero() {
			j.FirstAttempt = now
		}
		j.Batch, j.Text = nil, ""
		if len(a.jobs) > 1 {
			j.Batch = jobIDs(a.jobs)
		}
	}
	// Write ahead: what the request carries is stored before it leaves.
	a.jobs[0].Text = a.text
	if err := o.store.Save(ctx, o.cfg.worker, a.jobs); err != nil {
		a.restore()
		return o.saveFailed(res, err, false)
	}
	n, err := o.c.Do(ctx, a.request())
	return o.judge(ctx, res, a, n, err)
}

// refused records a job that could not be composed: an account offline
// for now waits and counts a try, as WithMaxAttempts says; a job that
// cannot be read back (a field this version does not know, say) or whose
// account is gone fails, never sent without what it asked.
func (o *Outbox) refused(ctx context.Context, res laneResult, a *attempt, err error) laneResult {
	now := time.Now()
	if decide(0, err) != again {
		return o.finish(ctx, res, a, JobFailed, 0, err)
	}
	for _, j := range a.jobs {
		j.Attempts++
	}
	if a.jobs[0].Attempts >= o.cfg.maxAttempts {
		return o.finish(ctx, res, a, JobFailed, 0, err)
	}
	note(a.jobs, err, now)
	return o.again(ctx, res, a, now.Add(backoff(a.jobs[0].Attempts, err)))
}

// judge records what one request came to. A refusal that proves nothing
// left (the client's budget, a check) costs nothing; "maybe delivered" is
// retried only where the platform drops repeats.
func (o *Outbox) judge(ctx context.Context, res laneResult, a *attempt, n int, err error) laneResult {
	if err == nil {
		return o.finish(ctx, res, a, JobSent, n, nil)
	}
	now := time.Now()
	n, err = a.keepParts(n, err)
	switch decide(n, err) {
	case wait:
		// The client's own budget: nothing left. Wait for the slot; texts
		// queue up behind and are merged when it frees.
		a.restore()
		if err := o.store.Save(ctx, o.cfg.worker, a.jobs); err != nil {
			return o.saveFailed(res, err, true)
		}
		d, _ := middleware.RetryAfter(err)
		res.notBefore = now.Add(max(d, 10*time.Millisecond))
		return res
	case maybe:
		if a.redeliverable(now) && a.jobs[0].Attempts < o.cfg.maxAttempts {
			note(a.jobs, err, now)
			return o.again(ctx, res, a, now.Add(backoff(a.jobs[0].Attempts, err)))
		}
		return o.finish(ctx, res, a, JobMaybeDelivered, n, err)
	case again:
		if a.jobs[0].Attempts >= o.cfg.maxAttempts {
			break
		}
		for i, j := range a.jobs {
			if a.prev[i].State != JobSending { // nothing of it may have left
				j.State, j.Batch, j.Text = JobQueued, nil, ""
			}
		}
		note(a.jobs, err, now)
		return o.again(ctx, res, a, now.Add(backoff(a.jobs[0].Attempts, err)))
	}
	return o.finish(ctx, res, a, JobFailed, n, err)
}

// keepParts records, for a push that stopped part-way with nothing of
// the failed message delivered, the messages the platform took: the next
// attempt resumes after them. What is left to decide on is then the
// failure of the rest, as if it had been sent alone. A partial failure
// whose failed message may have arrived, or that reached some targets and
// not others, stays what it is.
func (a *attempt) keepParts(n int, err error) (int, error) {
	var pe *middleware.PartialError
	if !errors.As(err, &pe) || len(a.jobs) != 1 {
		return n, err
	}
	a.jobs[0].Parts = max(a.jobs[0].Parts, pe.SentParts)
	if pe.MaybeDelivered || len(pe.FailedTargets) > 0 {
		return n, err
	}
	return 0, pe.Err
}

// again saves the jobs to be tried at next.
func (o *Outbox) again(ctx context.Context, res laneResult, a *attempt, next time.Time) laneResult {
	for _, j := range a.jobs {
		j.NotBefore = next
	}
	if err := o.store.Save(ctx, o.cfg.worker, a.jobs); err != nil {
		return o.saveFailed(res, err, true)
	}
	res.notBefore = next
	return res
}

// finish makes the attempt's jobs final.
func (o *Outbox) finish(ctx context.Context, res laneResult, a *attempt, state JobState, n int, err error) laneResult {
	now := time.Now()
	for i, j := range a.jobs {
		j.State, j.Sent, j.Updated, j.NotBefore = state, n, now, time.Time{}
		if state == JobFailed && a.prev[i].State == JobSending {
			// An earlier request for it may have arrived: never "failed".
			j.State = JobMaybeDelivered
		}
		j.LastErrorClass, j.LastError = "", ""
		if err != nil {
			note([]*Job{j}, err, now)
		}
	}
	if err := saveHard(ctx, o.store, o.cfg.worker, a.jobs); err != nil {
		return o.saveFailed(res, err, true)
	}
	res.finished = jobIDs(a.jobs)
	return res
}

// saveHard retries a final save a few times: a store hiccup after a send
// should not leave the job looking unsent.
func saveHard(ctx context.Context, s Store, worker string, jobs []*Job) error {
	var err error
	for i := range 4 {
		if err = s.Save(ctx, worker, jobs); err == nil || errors.Is(err, ErrClaimLost) {
			return err
		}
		time.Sleep(time.Duration(50<<i) * time.Millisecond)
	}
	return err
}

// saveFailed handles a step the store did not record. When another
// worker holds the lane now (ErrClaimLost), the lane goes: the store's word
// is what that worker acts on. When the store did not answer, the lane
// stays, and tries again a poll interval later; dirty says the jobs hold a
// state the store must get before anything else is sent (a send's
// outcome), which the next turn writes first. So a lane resumes within a
// poll of the store answering again, with nothing sent twice or lost.
func (o *Outbox) saveFailed(res laneResult, err error, dirty bool) laneResult {
	if errors.Is(err, ErrClaimLost) {
		res.lost = true
		return res
	}
	o.cfg.logger.Warn("outbox: store did not record a delivery step; the lane waits for it", slog.String("error", err.Error()))
	res.notBefore = time.Now().Add(o.cfg.poll)
	res.dirty = dirty
	return res
}

// resave writes what a lane's last turn could not, before it sends
// anything more.
func (o *Outbox) resave(ctx context.Context, name string, jobs []*Job) laneResult {
	res := laneResult{lane: name, jobs: jobs}
	if err := saveHard(ctx, o.store, o.cfg.worker, jobs); err != nil {
		res = o.saveFailed(res, err, true)
		return res
	}
	for _, j := range jobs {
		if j.State.Final() {
			res.finished = append(res.finished, j.ID)
		}
	}
	res.notBefore = jobs[0].NotBefore
	return res
}

// note records err's class and text on jobs.
func note(jobs []*Job, err error, now time.Time) {
	for _, j := range jobs {
		j.LastErrorClass, j.LastError, j.Updated = middleware.ErrorClass(err), err.Error(), now
	}
}
