package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// lane is one target's queue in Run: its jobs in order.
type lane struct {
	jobs      []*OutboxJob
	busy      bool      // a delivery of it is under way
	notBefore time.Time // the budget, or a failure, asked to wait
}

// laneResult is what one delivery did to its lane.
type laneResult struct {
	lane      string
	finished  []string  // ids that left the queue
	notBefore time.Time // when the lane may go again
	lost      bool      // another worker holds the lane now
}

// Run delivers queued jobs until ctx ends, then lets the requests under way
// finish (each within its push's timeout), gives its claims back and
// returns ctx's error. Run as many Outboxes on a shared store as you like,
// in one process or many: each lane is delivered by one at a time. A
// second Run of the same Outbox at once is an error.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.run.CompareAndSwap(false, true) {
		return errRunning
	}
	defer o.run.Store(false)
	r := &runState{lanes: map[string]*lane{}, held: map[string]bool{}}
	lanes, held := r.lanes, r.held
	done := make(chan laneResult)
	busy := 0
	// Deliveries outlive a cancelled Run: cutting a request in flight
	// would turn a sent WeCom message into a "maybe delivered".
	dctx := context.WithoutCancel(ctx)
	var lastClaim time.Time
	woken := true
	for {
		// Claim (and renew the claims) when an enqueue woke Run and at
		// every poll, not after every delivery: a Redis store answers in
		// a dozen round trips.
		if ctx.Err() == nil && (woken || time.Since(lastClaim) >= o.cfg.poll) {
			o.claim(ctx, r)
			woken, lastClaim = false, time.Now()
		}
		now := time.Now()
		next := lastClaim.Add(o.cfg.poll)
		if !next.After(now) {
			next = now.Add(o.cfg.poll)
		}
		for name, l := range lanes {
			switch {
			case l.busy:
			case len(l.jobs) == 0:
				delete(lanes, name)
			case l.notBefore.After(now):
				next = minTime(next, l.notBefore)
			case busy < o.cfg.workers && ctx.Err() == nil:
				l.busy = true
				busy++
				jobs := append([]*OutboxJob(nil), l.jobs...)
				go func() { done <- o.deliver(dctx, name, jobs) }()
			}
		}
		if ctx.Err() != nil && busy == 0 {
			if err := o.store.Release(dctx, o.cfg.worker); err != nil {
				o.c.logger.Warn("outbox: releasing claims", slog.String("error", err.Error()))
			}
			return ctx.Err()
		}
		t := time.NewTimer(time.Until(next))
		select {
		case res := <-done:
			busy--
			l := lanes[res.lane]
			l.busy = false
			if res.lost {
				for _, j := range l.jobs {
					delete(held, j.ID)
				}
				delete(lanes, res.lane)
				break
			}
			l.notBefore = res.notBefore
			l.jobs = dropIDs(l.jobs, res.finished, held)
		case <-o.wakeup:
			woken = true
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// runState is what Run holds: the lanes it delivers and the jobs in them.
type runState struct {
	lanes     map[string]*lane
	held      map[string]bool
	storeDown bool
}

// claim takes the jobs the store hands this worker into their lanes, and
// logs once when the store stops answering and once when it is back.
func (o *Outbox) claim(ctx context.Context, r *runState) {
	jobs, err := o.store.Claim(ctx, o.cfg.worker, o.cfg.claimBatch)
	switch {
	case err != nil && !r.storeDown && ctx.Err() == nil:
		r.storeDown = true
		o.c.logger.Warn("outbox: store unreachable; retrying", slog.String("error", err.Error()))
	case err == nil && r.storeDown:
		r.storeDown = false
		o.c.logger.Info("outbox: store reachable again")
	}
	for _, j := range jobs {
		if r.held[j.ID] {
			continue
		}
		r.held[j.ID] = true
		l := r.lanes[j.Lane]
		if l == nil {
			l = &lane{}
			r.lanes[j.Lane] = l
		}
		l.jobs = append(l.jobs, j)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// dropIDs removes the finished jobs from jobs, and from held.
func dropIDs(jobs []*OutboxJob, ids []string, held map[string]bool) []*OutboxJob {
	if len(ids) == 0 {
		return jobs
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
		delete(held, id)
	}
	out := jobs[:0]
	for _, j := range jobs {
		if !gone[j.ID] {
			out = append(out, j)
		}
	}
	clear(jobs[len(out):])
	return out
}

// attempt is one delivery: the jobs it carries and how to send them.
type attempt struct {
	jobs   []*OutboxJob
	prev   []JobStatus   // before this attempt: what a refusal restores
	spec   *jobSpec      // the first job's
	opts   []Option      // the first job's, with its idempotency key
	text   string        // the merged text, when jobs are several
	window time.Duration // the platform's dedup window; 0: none
}

// deliver sends the head of a lane, merged with the texts behind it when
// they may be, and records what came of it.
func (o *Outbox) deliver(ctx context.Context, name string, jobs []*OutboxJob) laneResult {
	res := laneResult{lane: name}
	a, err := o.compose(ctx, jobs)
	switch {
	case err != nil && retryable(err): // an account offline for now
		note(a.jobs, err, time.Now())
		return o.again(ctx, res, a, time.Now().Add(backoff(a.jobs[0].Attempts, err)))
	case err != nil:
		// The job cannot be read back or sent by this Client.
		return o.finish(ctx, res, a, JobFailed, 0, err)
	}
	now := time.Now()
	if a.jobs[0].State == JobSending && !a.redeliverable(now) {
		// A worker stopped (or lost its answer) after a request may have
		// left, and the platform would not drop a repeat now.
		return o.finish(ctx, res, a, JobMaybeDelivered, 0,
			fmt.Errorf("%w: a request for it may have left before its worker stopped or lost the answer", ErrMaybeDelivered))
	}
	for _, j := range a.jobs {
		j.State, j.Attempts, j.Updated = JobSending, j.Attempts+1, now
		if j.FirstAttempt.IsZero() {
			j.FirstAttempt = now
		}
		j.Batch = nil
		if len(a.jobs) > 1 {
			j.Batch = jobIDs(a.jobs)
		}
	}
	if err := o.store.Save(ctx, o.cfg.worker, a.jobs); err != nil {
		a.restore()
		return o.saveFailed(res, err)
	}
	n, err := o.c.send(context.WithValue(ctx, noWaitKey{}, true), a.call())
	return o.judge(ctx, res, a, n, err)
}

// compose picks what the lane's next request carries: the head, and the
// texts that may share its message. A head already sending (a crash, or a
// TIM retry) goes again exactly as before, with the same key.
func (o *Outbox) compose(ctx context.Context, jobs []*OutboxJob) (*attempt, error) {
	head := jobs[0]
	a := &attempt{jobs: jobs[:1]}
	defer func() { a.prev = statuses(a.jobs) }()
	spec, err := decodeSpec(head.Spec)
	if err != nil {
		return a, err
	}
	a.spec = spec
	backend, err := o.backend(ctx, spec)
	if err != nil {
		return a, err
	}
	codec, _ := backend.(OptionCodec)
	if a.opts, err = spec.options(codec, head.Key); err != nil {
		return a, err
	}
	if d, ok := backend.(Deduplicator); ok {
		a.window = d.DedupWindow(o.probe(spec, backend))
	}
	if head.State == JobSending && len(head.Batch) > 1 {
		// Resend the same message: the same jobs, found in order.
		texts := []string{}
		for n, id := range head.Batch {
			if n >= len(jobs) || jobs[n].ID != id {
				a.window = 0 // not all at hand: the message cannot be rebuilt
				break
			}
			s, err := decodeSpec(jobs[n].Spec)
			if err != nil || !s.mergeable() {
				a.window = 0
				break
			}
			texts = append(texts, s.Items[0].Text)
			a.jobs = jobs[:n+1]
		}
		a.text = strings.Join(texts, o.cfg.separator)
		return a, nil
	}
	planner, ok := backend.(Planner)
	if !ok || o.cfg.after < 0 || !spec.mergeable() || time.Since(head.Enqueued) < o.cfg.after {
		return a, nil
	}
	key, err := spec.mergeKey()
	if err != nil {
		return a, nil
	}
	texts := []string{spec.Items[0].Text}
	probe := o.probe(spec, backend)
	for _, next := range jobs[1:] {
		if next.State != JobQueued {
			break
		}
		s, err := decodeSpec(next.Spec)
		if err != nil || !s.mergeable() {
			break
		}
		if k, err := s.mergeKey(); err != nil || k != key {
			break
		}
		joined := strings.Join(append(texts, s.Items[0].Text), o.cfg.separator)
		probe.Items = []Item{{Type: TextItem, Text: joined}}
		if n, err := planner.Messages(probe); err != nil || n != 1 {
			break
		}
		texts = append(texts, s.Items[0].Text)
		a.jobs = jobs[:len(a.jobs)+1]
	}
	a.text = strings.Join(texts, o.cfg.separator)
	return a, nil
}

// backend finds the backend of the job's account: unknown accounts fail
// the job, offline ones wait (see judge).
func (o *Outbox) backend(ctx context.Context, s *jobSpec) (Backend, error) {
	acct, err := o.c.resolve(ctx, s.IM, s.Account)
	if err != nil {
		return nil, err
	}
	return acct.Backend, nil
}

// probe is the job as a Message, for a backend's planning (no sources).
func (o *Outbox) probe(s *jobSpec, backend Backend) *Message {
	m := &Message{IM: s.IM, GroupCode: s.Group, UserID: s.User, Title: s.Title, AccountID: s.Account, Items: s.Items}
	codec, _ := backend.(OptionCodec)
	if opts, err := s.options(codec, 1); err == nil {
		cfg := newCallConfig(opts)
		m.Fields, m.Filename, m.MIME, m.Extras = cfg.fields, cfg.filename, cfg.mime, cfg.extras
	}
	return m
}

// call is the attempt as a helper call: merged texts in one item, under
// the first job's idempotency key.
func (a *attempt) call() *call {
	s := a.spec
	items := s.Items
	if len(a.jobs) > 1 {
		items = []Item{{Type: TextItem, Text: a.text}}
	}
	return &call{helper: s.Helper, imType: s.IM, groupCode: s.Group, userID: s.User, title: s.Title, items: items, opts: a.opts}
}

// redeliverable reports whether a job a request may have left for can go
// again: the platform drops the repeat until its window closes, less a
// margin for clocks that differ between replicas.
func (a *attempt) redeliverable(now time.Time) bool {
	if a.window <= 0 {
		return false
	}
	margin := min(a.window/10, 10*time.Second)
	return now.Sub(a.jobs[0].FirstAttempt) < a.window-margin
}

// restore undoes this attempt's marks on its jobs.
func (a *attempt) restore() {
	for i, j := range a.jobs {
		j.JobStatus = a.prev[i]
	}
}

func statuses(jobs []*OutboxJob) []JobStatus {
	out := make([]JobStatus, len(jobs))
	for i, j := range jobs {
		out[i] = j.JobStatus
		out[i].Batch = append([]string(nil), j.Batch...)
	}
	return out
}

func jobIDs(jobs []*OutboxJob) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// judge records what one request came to. A refusal that proves nothing
// left (the client's budget, a check) costs nothing; "maybe delivered" is
// retried only where the platform drops repeats.
func (o *Outbox) judge(ctx context.Context, res laneResult, a *attempt, n int, err error) laneResult {
	now := time.Now()
	var le *LimitError
	switch {
	case err == nil:
		return o.finish(ctx, res, a, JobSent, n, nil)
	case errors.As(err, &le):
		// The client's own budget: nothing left. Wait for the slot; texts
		// queue up behind and are merged when it frees.
		a.restore()
		if err := o.store.Save(ctx, o.cfg.worker, a.jobs); err != nil {
			return o.saveFailed(res, err)
		}
		res.notBefore = now.Add(max(le.RetryAfter, 10*time.Millisecond))
		return res
	case maybeDelivered(n, err):
		if a.redeliverable(now) && a.jobs[0].Attempts < o.cfg.maxAttempts {
			note(a.jobs, err, now)
			return o.again(ctx, res, a, now.Add(backoff(a.jobs[0].Attempts, err)))
		}
		return o.finish(ctx, res, a, JobMaybeDelivered, n, err)
	case retryable(err) && a.jobs[0].Attempts < o.cfg.maxAttempts:
		for i, j := range a.jobs {
			if a.prev[i].State != JobSending { // nothing of it may have left
				j.State, j.Batch = JobQueued, nil
			}
		}
		note(a.jobs, err, now)
		return o.again(ctx, res, a, now.Add(backoff(a.jobs[0].Attempts, err)))
	}
	return o.finish(ctx, res, a, JobFailed, n, err)
}

// again saves the jobs to be tried at next.
func (o *Outbox) again(ctx context.Context, res laneResult, a *attempt, next time.Time) laneResult {
	for _, j := range a.jobs {
		j.NotBefore = next
	}
	if err := o.store.Save(ctx, o.cfg.worker, a.jobs); err != nil {
		return o.saveFailed(res, err)
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
		j.Class, j.Err = "", ""
		if err != nil {
			note([]*OutboxJob{j}, err, now)
		}
	}
	if err := saveHard(ctx, o.store, o.cfg.worker, a.jobs); err != nil {
		return o.saveFailed(res, err)
	}
	res.finished = jobIDs(a.jobs)
	return res
}

// saveHard retries a final save a few times: a store hiccup after a send
// should not leave the job looking unsent.
func saveHard(ctx context.Context, s OutboxStore, worker string, jobs []*OutboxJob) error {
	var err error
	for i := range 4 {
		if err = s.Save(ctx, worker, jobs); err == nil || errors.Is(err, ErrClaimLost) {
			return err
		}
		time.Sleep(time.Duration(50<<i) * time.Millisecond)
	}
	return err
}

// saveFailed lets the lane go when the store would not record a step: the
// store's word is what the next worker acts on.
func (o *Outbox) saveFailed(res laneResult, err error) laneResult {
	if errors.Is(err, ErrClaimLost) {
		res.lost = true
		return res
	}
	o.c.logger.Warn("outbox: store did not record a delivery step; the lane waits", slog.String("error", err.Error()))
	res.lost = true // forget it here; the store hands it out again
	return res
}

// note records err's class and text on jobs.
func note(jobs []*OutboxJob, err error, now time.Time) {
	for _, j := range jobs {
		j.Class, j.Err, j.Updated = errorClass(err), err.Error(), now
	}
}

// maybeDelivered reports whether a failed request may have reached the
// platform, wholly or in part.
func maybeDelivered(n int, err error) bool {
	var pe *PartialError
	return n > 0 || errors.Is(err, ErrMaybeDelivered) || errors.As(err, &pe)
}

// retryable reports whether err passes with time: rate limits, an offline
// account, the network, a server's 5xx or a deadline before any write.
func retryable(err error) bool {
	if _, ok := RetryAfter(err); ok {
		return true
	}
	var api *APIError
	switch {
	case errors.Is(err, ErrRateLimited), errors.Is(err, ErrAccountOffline):
		return true
	case errors.As(err, &api):
		return api.HTTPStatus >= 500
	}
	switch errorClass(err) {
	case "context", "other":
		return true
	}
	return false
}

// backoff is how long to wait before attempt n+1: what the platform asked,
// else 1 s doubling to 5 minutes.
func backoff(n int, err error) time.Duration {
	if d, ok := RetryAfter(err); ok {
		return d
	}
	return min(time.Second<<min(max(n-1, 0), 9), 5*time.Minute)
}
