package outbox

import (
	"context"
	"log/slog"
	"time"
)

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
	// A new tenure for this worker's name: what a previous life of it left
	// pending is handed at once, not a claim timeout later.
	if err := o.store.Release(ctx, o.cfg.worker); err != nil {
		o.cfg.logger.Warn("outbox: releasing the claims of a previous run", slog.String("error", err.Error()))
	}
	r := &runner{o: o, lanes: map[string]*lane{}, held: map[string]bool{}, done: make(chan laneResult), woken: true,
		// Deliveries outlive a cancelled Run: cutting a request in flight
		// would turn a sent WeCom message into a "maybe delivered".
		dctx: context.WithoutCancel(ctx)}
	for {
		// Claim (and renew the claims) when an enqueue woke Run and at
		// every poll, not after every delivery: a Redis store answers in
		// one round trip for its leases and one per shard held.
		if ctx.Err() == nil && (r.woken || time.Since(r.lastClaim) >= o.cfg.poll) {
			r.claim(ctx)
		}
		next := r.startDue(ctx.Err() == nil)
		if ctx.Err() != nil && r.busy == 0 {
			r.release()
			return ctx.Err()
		}
		r.wait(ctx, next)
	}
}

// runner is Run's state: the lanes it delivers, the jobs it holds and the
// deliveries under way. Only Run's goroutine touches it; a delivery works
// on its own copies of the jobs and hands them back in its laneResult.
type runner struct {
	o         *Outbox
	lanes     map[string]*lane
	held      map[string]bool // ids of the jobs in lanes
	done      chan laneResult
	busy      int // deliveries under way
	dctx      context.Context
	lastClaim time.Time
	woken     bool // an enqueue here asked for a claim
	storeDown bool // the last claim failed; logged once
}

// lane is one target's queue in Run: its jobs in order.
type lane struct {
	jobs      []*Job
	busy      bool            // a delivery of it is under way
	notBefore time.Time       // the budget, or a failure, asked to wait
	dirty     []*Job          // what the store must record before the lane goes on
	fresh     map[string]*Job // copies of a new claim, taken in once the delivery under way ends
}

// laneResult is what one delivery did to its lane.
type laneResult struct {
	lane      string
	jobs      []*Job    // the jobs it carried, as it left them
	finished  []string  // ids that left the queue
	notBefore time.Time // when the lane may go again
	lost      bool      // another worker holds the lane now
	dirty     bool      // the store did not record jobs' states: write them first
}

// claim takes the jobs the store hands this worker into their lanes, and
// logs once when the store stops answering and once when it is back.
func (r *runner) claim(ctx context.Context) {
	o := r.o
	jobs, err := o.store.Claim(ctx, o.cfg.worker, o.cfg.claimBatch)
	r.woken, r.lastClaim = false, time.Now()
	switch {
	case err != nil && !r.storeDown && ctx.Err() == nil:
		r.storeDown = true
		o.cfg.logger.Warn("outbox: store unreachable; retrying", slog.String("error", err.Error()))
	case err == nil && r.storeDown:
		r.storeDown = false
		o.cfg.logger.Info("outbox: store reachable again")
	}
	for _, j := range jobs {
		l := r.lanes[j.Lane]
		if l == nil {
			l = &lane{}
			r.lanes[j.Lane] = l
		}
		if r.held[j.ID] {
			// Handed again under a new claim (the lane was lost and taken
			// again): the copy held is stale.
			l.renew(j)
			continue
		}
		r.held[j.ID] = true
		l.jobs = append(l.jobs, j)
	}
}

// renew takes in a copy of a job held already, handed under a new claim:
// at once, or when the delivery under way ends.
func (l *lane) renew(j *Job) {
	for i, h := range l.jobs {
		switch {
		case h.ID != j.ID || h.Claim == j.Claim:
			// The same claim handing it again (it idled): ours is newer.
		case l.busy:
			if l.fresh == nil {
				l.fresh = map[string]*Job{}
			}
			l.fresh[j.ID] = j
		default:
			l.jobs[i] = j
			l.dirty = nil // written under the old claim, it would be refused
		}
	}
}

// startDue starts a delivery of each lane that is due, as workers allow
// (none when starting is false), and returns when Run should look again.
func (r *runner) startDue(starting bool) time.Time {
	now := time.Now()
	next := r.lastClaim.Add(r.o.cfg.poll)
	if !next.After(now) {
		next = now.Add(r.o.cfg.poll)
	}
	for name, l := range r.lanes {
		switch {
		case l.busy:
		case len(l.jobs) == 0:
			delete(r.lanes, name)
		case l.notBefore.After(now):
			next = minTime(next, l.notBefore)
		case starting && r.busy < r.o.cfg.workers:
			l.busy = true
			r.busy++
			if l.dirty != nil {
				dirty := clones(l.dirty)
				go func() { r.done <- r.o.resave(r.dctx, name, dirty) }()
				continue
			}
			jobs := clones(l.jobs)
			go func() { r.done <- r.o.deliver(r.dctx, name, jobs) }()
		}
	}
	return next
}

// wait sleeps until next, a delivery ends, an enqueue wakes Run or ctx
// ends.
func (r *runner) wait(ctx context.Context, next time.Time) {
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	select {
	case res := <-r.done:
		r.settle(res)
	case <-r.o.wakeup:
		r.woken = true
	case <-t.C:
	case <-ctx.Done():
	}
}

// settle takes back a lane after its delivery: the jobs as the delivery
// left them, less those that finished; all of it when the claim was lost.
func (r *runner) settle(res laneResult) {
	r.busy--
	l := r.lanes[res.lane]
	l.busy = false
	if res.lost {
		for _, j := range l.jobs {
			delete(r.held, j.ID)
		}
		delete(r.lanes, res.lane)
		if len(l.fresh) > 0 {
			// Lost under the old claim, handed again under a new one.
			nl := &lane{}
			for _, j := range l.jobs {
				if f := l.fresh[j.ID]; f != nil {
					nl.jobs = append(nl.jobs, f)
					r.held[j.ID] = true
				}
			}
			r.lanes[res.lane] = nl
		}
		return
	}
	l.notBefore, l.dirty = res.notBefore, nil
	if res.dirty {
		l.dirty = res.jobs
	}
	byID := make(map[string]*Job, len(res.jobs))
	for _, j := range res.jobs {
		byID[j.ID] = j
	}
	for id, j := range l.fresh {
		byID[id] = j // the new claim's copy beats what the old one did
		l.dirty = nil
	}
	l.fresh = nil
	gone := make(map[string]bool, len(res.finished))
	for _, id := range res.finished {
		gone[id] = true
		delete(r.held, id)
	}
	kept := l.jobs[:0]
	for _, j := range l.jobs {
		if gone[j.ID] {
			continue
		}
		if u := byID[j.ID]; u != nil {
			j = u
		}
		kept = append(kept, j)
	}
	clear(l.jobs[len(kept):])
	l.jobs = kept
}

// release gives the worker's claims back as Run ends.
func (r *runner) release() {
	if err := r.o.store.Release(r.dctx, r.o.cfg.worker); err != nil {
		r.o.cfg.logger.Warn("outbox: releasing claims", slog.String("error", err.Error()))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func clones(jobs []*Job) []*Job {
	out := make([]*Job, len(jobs))
	for i, j := range jobs {
		out[i] = j.clone()
	}
	return out
}
