package outbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store in this process: nothing to install,
// and everything lost when the process exits. Outboxes of one process may
// share it; finished jobs are forgotten after its retention.
type MemoryStore struct {
	mu        sync.Mutex
	jobs      map[string]*Job
	queue     []string          // queued jobs nobody holds, in order
	held      map[string]string // job id -> worker
	lanes     map[string]string // lane -> "worker|tenure", while the worker holds any job of it
	tenure    int64             // counts lane acquisitions
	dead      []string
	finished  []string          // in the order they finished
	keys      map[uint64]string // caller-given key -> job id
	retention time.Duration
	now       func() time.Time
}

// NewMemoryStore returns an empty store that forgets finished jobs
// retention after they finish (<= 0: an hour).
func NewMemoryStore(retention time.Duration) *MemoryStore {
	if retention <= 0 {
		retention = time.Hour
	}
	return &MemoryStore{jobs: map[string]*Job{}, held: map[string]string{}, lanes: map[string]string{}, keys: map[uint64]string{},
		retention: retention, now: time.Now}
}

// Add keeps a new job as queued.
func (m *MemoryStore) Add(_ context.Context, job *Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[job.ID]; ok {
		return fmt.Errorf("outbox: job %s already exists", job.ID)
	}
	if job.Unique {
		if id, ok := m.keys[job.Key]; ok && m.jobs[id] != nil {
			return &DuplicateError{ID: id}
		}
		m.keys[job.Key] = job.ID
	}
	m.jobs[job.ID] = job.clone()
	m.queue = append(m.queue, job.ID)
	return nil
}

// Claim hands worker the queued jobs of lanes no other worker holds.
func (m *MemoryStore) Claim(_ context.Context, worker string, max int) ([]*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forget()
	var out []*Job
	rest := m.queue[:0]
	for _, id := range m.queue {
		j := m.jobs[id]
		claim, ok := m.lanes[j.Lane]
		if (ok && !strings.HasPrefix(claim, worker+"|")) || len(out) >= max {
			rest = append(rest, id)
			continue
		}
		if !ok {
			m.tenure++
			claim = worker + "|" + strconv.FormatInt(m.tenure, 10)
			m.lanes[j.Lane] = claim
		}
		m.held[id] = worker
		c := j.clone()
		c.Claim = claim
		out = append(out, c)
	}
	m.queue = rest
	return out, nil
}

// Save writes jobs the worker holds.
func (m *MemoryStore) Save(_ context.Context, worker string, jobs []*Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range jobs {
		if m.held[j.ID] != worker || m.lanes[j.Lane] != j.Claim {
			return ErrClaimLost
		}
	}
	for _, j := range jobs {
		c := j.clone()
		c.Claim = ""
		m.jobs[j.ID] = c
		if !j.State.Final() {
			continue
		}
		delete(m.held, j.ID)
		if j.State.Dead() {
			m.dead = append(m.dead, j.ID)
		} else {
			m.finished = append(m.finished, j.ID)
		}
		m.freeLane(j.Lane)
	}
	return nil
}

// freeLane lets other workers claim lane once its worker holds none of it.
func (m *MemoryStore) freeLane(lane string) {
	for id := range m.held {
		if m.jobs[id].Lane == lane {
			return
		}
	}
	delete(m.lanes, lane)
}

// Release puts the worker's jobs back in the queue, in their order.
func (m *MemoryStore) Release(_ context.Context, worker string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var back []string
	for id, w := range m.held {
		if w == worker {
			back = append(back, id)
			delete(m.held, id)
		}
	}
	slices.Sort(back) // ids sort in the order they were made
	m.queue = append(back, m.queue...)
	for lane, claim := range m.lanes {
		if strings.HasPrefix(claim, worker+"|") {
			delete(m.lanes, lane)
		}
	}
	return nil
}

// Job returns the job with the id.
func (m *MemoryStore) Job(_ context.Context, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return nil, ErrJobNotFound
	}
	return j.clone(), nil
}

// DeadLetters returns up to max dead letters, oldest first.
func (m *MemoryStore) DeadLetters(_ context.Context, max int) ([]*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Job
	for _, id := range m.dead {
		if len(out) >= max {
			break
		}
		out = append(out, m.jobs[id].clone())
	}
	return out, nil
}

// Requeue puts a dead letter back at the end of the queue.
func (m *MemoryStore) Requeue(_ context.Context, job *Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.Index(m.dead, job.ID)
	if i < 0 {
		return ErrJobNotFound
	}
	m.dead = slices.Delete(m.dead, i, i+1)
	m.jobs[job.ID] = job.clone()
	m.queue = append(m.queue, job.ID)
	return nil
}

// Drop forgets a dead letter.
func (m *MemoryStore) Drop(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.Index(m.dead, id)
	if i < 0 {
		return ErrJobNotFound
	}
	m.dead = slices.Delete(m.dead, i, i+1)
	m.remove(id)
	return nil
}

// forget drops sent jobs past the retention.
func (m *MemoryStore) forget() {
	cut := m.now().Add(-m.retention)
	n := 0
	for _, id := range m.finished {
		if !m.jobs[id].Updated.Before(cut) {
			break
		}
		m.remove(id)
		n++
	}
	m.finished = m.finished[n:]
}

// remove forgets job id and its caller-given key.
func (m *MemoryStore) remove(id string) {
	if j := m.jobs[id]; j != nil && j.Unique && m.keys[j.Key] == id {
		delete(m.keys, j.Key)
	}
	delete(m.jobs, id)
}
