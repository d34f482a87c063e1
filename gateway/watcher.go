package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/imbridge/middleware/outbox"
)

// watcher follows the jobs this replica queued until they are final, for
// the delivered and dead-letter counts, and the per-route count of what
// waits (queue_limit).
type watcher struct {
	s        *Server
	mu       sync.Mutex
	jobs     map[string]string // job id → route
	perRoute map[string]int
}

func newWatcher(s *Server) *watcher {
	return &watcher{s: s, jobs: map[string]string{}, perRoute: map[string]int{}}
}

// add follows job id of route.
func (w *watcher) add(id, route string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.jobs[id] = route
	w.perRoute[route]++
	w.s.m.pending.WithLabelValues(route).Set(float64(w.perRoute[route]))
}

// waiting is how many jobs of route are not final; all routes for "".
func (w *watcher) waiting(route string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if route == "" {
		return len(w.jobs)
	}
	return w.perRoute[route]
}

// done stops following id.
func (w *watcher) done(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	route, ok := w.jobs[id]
	if !ok {
		return
	}
	delete(w.jobs, id)
	w.perRoute[route]--
	w.s.m.pending.WithLabelValues(route).Set(float64(w.perRoute[route]))
}

// run checks the followed jobs every interval until ctx ends.
func (w *watcher) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}

// checkBatch bounds the reads of one check: under a flood of queued jobs
// the store is asked about a sample (map order is random) each time,
// not about every job four times a second.
const checkBatch = 256

// check reads the state of up to checkBatch followed jobs.
func (w *watcher) check(ctx context.Context) {
	w.mu.Lock()
	ids := make(map[string]string, min(len(w.jobs), checkBatch))
	for id, r := range w.jobs {
		if len(ids) == checkBatch {
			break
		}
		ids[id] = r
	}
	w.mu.Unlock()
	for id, route := range ids {
		st, err := w.s.box.Status(ctx, id)
		switch {
		case errors.Is(err, outbox.ErrJobNotFound):
			w.done(id) // dropped by a person, or past the store's retention
		case err != nil:
			return // the store is down: try again at the next tick
		case st.State == outbox.JobSent:
			w.s.m.delivered.WithLabelValues(route).Inc()
			w.done(id)
		case st.State.Dead():
			w.s.m.dead.WithLabelValues(route, st.LastErrorClass).Inc()
			w.done(id)
		}
	}
}
