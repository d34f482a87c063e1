// Package outboxtest is the conformance suite of outbox.Store: what the
// Outbox counts on from a store, checked against a fresh one per case.
// The memory store and the Redis store run it in their tests; a store of
// your own runs it the same way:
//
//	func TestMyStore(t *testing.T) {
//		outboxtest.Run(t, outboxtest.Harness{
//			NewStore: func(t *testing.T) outbox.Store { return newMyStore(t) },
//		})
//	}
//
// It uses the standard library only.
package outboxtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imbridge/middleware/outbox"
)

// Harness is how the suite gets stores.
type Harness struct {
	// NewStore returns an empty store, of its own, for one case.
	NewStore func(t *testing.T) outbox.Store
	// ClaimTimeout, when not 0, is how long the stores NewStore returns
	// keep a worker's claim that is not renewed (the worker crashed):
	// the suite then checks that another worker takes its jobs after it,
	// with what it wrote, and that the stale worker can write nothing
	// more. A store whose claims never lapse leaves it 0.
	ClaimTimeout time.Duration
}

// Run runs every case of the suite as a subtest.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.NewStore == nil {
		t.Fatal("outboxtest: Harness.NewStore is nil")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &rig{t: t, s: h.NewStore(t), ctx: context.Background()})
		})
	}
	t.Run("a stale worker is fenced", func(t *testing.T) {
		if h.ClaimTimeout <= 0 {
			t.Skip("the store's claims do not lapse")
		}
		staleWorker(&rig{t: t, s: h.NewStore(t), ctx: context.Background()}, h.ClaimTimeout)
	})
}

var cases = []struct {
	name string
	run  func(t *testing.T, r *rig)
}{
	{"a job reads back as it was added", func(_ *testing.T, r *rig) { addAndRead(r) }},
	{"an unknown job is ErrJobNotFound", func(_ *testing.T, r *rig) { unknown(r) }},
	{"a lane is claimed in order", func(_ *testing.T, r *rig) { laneOrder(r) }},
	{"a lane belongs to one worker", func(_ *testing.T, r *rig) { laneExclusive(r) }},
	{"a claim hands a job once", func(_ *testing.T, r *rig) { claimOnce(r) }},
	{"saves land, and final jobs leave the queue", func(_ *testing.T, r *rig) { saves(r) }},
	{"a worker that holds nothing writes nothing", func(_ *testing.T, r *rig) { foreignSave(r) }},
	{"release hands over at once", func(_ *testing.T, r *rig) { release(r) }},
	{"dead letters: oldest first, requeued and dropped once", func(_ *testing.T, r *rig) { deadLetters(r) }},
	{"the store keeps copies", func(_ *testing.T, r *rig) { copies(r) }},
	{"concurrent adds are all kept", func(_ *testing.T, r *rig) { concurrentAdds(r) }},
	{"a caller's key is kept once", func(_ *testing.T, r *rig) { uniqueKeys(r) }},
	{"limits are kept: Claim's max, DeadLetters' max", func(_ *testing.T, r *rig) { limits(r) }},
	{"a claim taken again fences the copies of the old one", func(_ *testing.T, r *rig) { tenure(r) }},
}

// rig is one case's store and the helpers that check it.
type rig struct {
	t   *testing.T
	s   outbox.Store
	ctx context.Context
}

// add keeps a queued job id in lane.
func (r *rig) add(id, lane string) *outbox.Job {
	r.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := &outbox.Job{JobStatus: outbox.JobStatus{ID: id, State: outbox.JobQueued, Enqueued: now, Updated: now, Key: 7},
		Lane: lane, Spec: []byte(fmt.Sprintf(`{"helper":"push","im":"x","items":[{"Type":"text","Text":%q}]}`, id))}
	if err := r.s.Add(r.ctx, j); err != nil {
		r.t.Fatalf("Add(%s): %v", id, err)
	}
	return j
}

func (r *rig) claim(worker string) []*outbox.Job {
	r.t.Helper()
	jobs, err := r.s.Claim(r.ctx, worker, 100)
	if err != nil {
		r.t.Fatalf("Claim(%s): %v", worker, err)
	}
	return jobs
}

func (r *rig) save(worker string, jobs ...*outbox.Job) {
	r.t.Helper()
	if err := r.s.Save(r.ctx, worker, jobs); err != nil {
		r.t.Fatalf("Save(%s, %v): %v", worker, ids(jobs), err)
	}
}

func (r *rig) job(id string) *outbox.Job {
	r.t.Helper()
	j, err := r.s.Job(r.ctx, id)
	if err != nil {
		r.t.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

// want fails the case unless got lists exactly the ids, in order.
func (r *rig) want(what string, got []*outbox.Job, wantIDs ...string) {
	r.t.Helper()
	if g := ids(got); !slices.Equal(g, wantIDs) {
		r.t.Fatalf("%s: got jobs %v, want %v", what, g, wantIDs)
	}
}

func ids(jobs []*outbox.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func isErr(r *rig, what string, err, want error) {
	r.t.Helper()
	if !errors.Is(err, want) {
		r.t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func addAndRead(r *rig) {
	in := r.add("j1", "lane-a")
	got := r.job("j1")
	if got.ID != in.ID || got.State != outbox.JobQueued || got.Lane != in.Lane || string(got.Spec) != string(in.Spec) ||
		got.Key != in.Key || !got.Enqueued.Equal(in.Enqueued) {
		r.t.Fatalf("Job(j1) = %+v, want what was added: %+v", got, in)
	}
}

func unknown(r *rig) {
	_, err := r.s.Job(r.ctx, "nobody")
	isErr(r, "Job(nobody)", err, outbox.ErrJobNotFound)
	isErr(r, "Drop(nobody)", r.s.Drop(r.ctx, "nobody"), outbox.ErrJobNotFound)
	j := &outbox.Job{JobStatus: outbox.JobStatus{ID: "nobody", State: outbox.JobQueued}, Lane: "l", Spec: []byte(`{}`)}
	isErr(r, "Requeue(nobody)", r.s.Requeue(r.ctx, j), outbox.ErrJobNotFound)
}

func laneOrder(r *rig) {
	for i := range 5 {
		r.add(fmt.Sprintf("a%d", i), "lane-a")
		r.add(fmt.Sprintf("b%d", i), "lane-b")
	}
	var a, b []*outbox.Job
	for _, j := range r.claim("w") {
		if j.Lane == "lane-a" {
			a = append(a, j)
		} else {
			b = append(b, j)
		}
	}
	r.want("lane-a", a, "a0", "a1", "a2", "a3", "a4")
	r.want("lane-b", b, "b0", "b1", "b2", "b3", "b4")
}

func laneExclusive(r *rig) {
	r.add("a1", "lane-a")
	r.want("w1's claim", r.claim("w1"), "a1")
	r.add("a2", "lane-a")
	for _, j := range r.claim("w2") {
		if j.Lane == "lane-a" {
			r.t.Fatalf("w2 was handed %s of lane-a while w1 holds the lane", j.ID)
		}
	}
	r.want("w1's next claim", r.claim("w1"), "a2")
}

func claimOnce(r *rig) {
	r.add("j1", "l")
	r.want("first claim", r.claim("w"), "j1")
	r.want("second claim", r.claim("w"))
}

func saves(r *rig) {
	r.add("j1", "l")
	r.add("j2", "l")
	jobs := r.claim("w")
	r.want("claim", jobs, "j1", "j2")
	jobs[0].State, jobs[0].Attempts, jobs[0].Batch = outbox.JobSending, 1, []string{"j1", "j2"}
	r.save("w", jobs[0])
	if j := r.job("j1"); j.State != outbox.JobSending || j.Attempts != 1 || !slices.Equal(j.Batch, []string{"j1", "j2"}) {
		r.t.Fatalf("after Save, Job(j1) = %+v", j.JobStatus)
	}
	jobs[0].State, jobs[0].Sent = outbox.JobSent, 2
	r.save("w", jobs[0])
	if j := r.job("j1"); j.State != outbox.JobSent || j.Sent != 2 {
		r.t.Fatalf("a sent job reads back as %+v", j.JobStatus)
	}
	jobs[1].State = outbox.JobSent
	r.save("w", jobs[1])
	if err := r.s.Release(r.ctx, "w"); err != nil {
		r.t.Fatal(err)
	}
	r.want("a claim after every job was sent", r.claim("w2"))
	dead, err := r.s.DeadLetters(r.ctx, 10)
	if err != nil || len(dead) != 0 {
		r.t.Fatalf("sent jobs are not dead letters: %v, %v", ids(dead), err)
	}
}

func foreignSave(r *rig) {
	r.add("j1", "l")
	jobs := r.claim("w1")
	r.want("claim", jobs, "j1")
	jobs[0].State = outbox.JobSent
	isErr(r, "Save by a worker that holds nothing", r.s.Save(r.ctx, "w2", jobs), outbox.ErrClaimLost)
	if j := r.job("j1"); j.State != outbox.JobQueued {
		r.t.Fatalf("a refused save wrote %s", j.State)
	}
}

func release(r *rig) {
	r.add("j1", "l")
	r.add("j2", "l")
	a := r.claim("a")
	r.want("a's claim", a, "j1", "j2")
	a[0].State = outbox.JobSending
	r.save("a", a[0])
	if err := r.s.Release(r.ctx, "a"); err != nil {
		r.t.Fatal(err)
	}
	b := r.claim("b")
	r.want("b's claim after a released", b, "j1", "j2")
	if b[0].State != outbox.JobSending {
		r.t.Fatalf("b got j1 as %s, not as a wrote it", b[0].State)
	}
	a[1].State = outbox.JobSent
	isErr(r, "a's save after it released", r.s.Save(r.ctx, "a", a[1:]), outbox.ErrClaimLost)
}

func deadLetters(r *rig) {
	for _, id := range []string{"j1", "j2", "j3"} {
		r.add(id, "lane-"+id)
	}
	jobs := r.claim("w")
	// Lanes come in any order; each lane's jobs in theirs.
	slices.SortFunc(jobs, func(a, b *outbox.Job) int { return strings.Compare(a.ID, b.ID) })
	r.want("claim", jobs, "j1", "j2", "j3")
	jobs[1].State, jobs[1].LastErrorClass, jobs[1].LastError = outbox.JobMaybeDelivered, "maybe_delivered", "lost answer"
	r.save("w", jobs[1])
	time.Sleep(5 * time.Millisecond) // dead in this order, whatever the store's clock grain
	jobs[0].State = outbox.JobFailed
	r.save("w", jobs[0])
	dead, err := r.s.DeadLetters(r.ctx, 10)
	if err != nil {
		r.t.Fatal(err)
	}
	r.want("dead letters, oldest first", dead, "j2", "j1")
	if dead[0].LastError != "lost answer" || dead[0].LastErrorClass != "maybe_delivered" {
		r.t.Fatalf("a dead letter lost its last error: %+v", dead[0].JobStatus)
	}
	one, err := r.s.DeadLetters(r.ctx, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	r.want("DeadLetters(1)", one, "j2")
	isErr(r, "Requeue of a queued job", r.s.Requeue(r.ctx, jobs[2]), outbox.ErrJobNotFound)
	isErr(r, "Drop of a queued job", r.s.Drop(r.ctx, "j3"), outbox.ErrJobNotFound)

	d := dead[0]
	d.State, d.LastErrorClass, d.LastError = outbox.JobQueued, "", ""
	if err := r.s.Requeue(r.ctx, d); err != nil {
		r.t.Fatal(err)
	}
	isErr(r, "a second Requeue", r.s.Requeue(r.ctx, d), outbox.ErrJobNotFound)
	r.want("claim after a requeue", r.claim("w"), "j2")
	if err := r.s.Drop(r.ctx, "j1"); err != nil {
		r.t.Fatal(err)
	}
	isErr(r, "a second Drop", r.s.Drop(r.ctx, "j1"), outbox.ErrJobNotFound)
	_, err = r.s.Job(r.ctx, "j1")
	isErr(r, "Job of a dropped job", err, outbox.ErrJobNotFound)
	dead, err = r.s.DeadLetters(r.ctx, 10)
	if err != nil {
		r.t.Fatal(err)
	}
	r.want("dead letters at the end", dead)
}

func copies(r *rig) {
	r.add("j1", "l")
	got := r.job("j1")
	got.State, got.Spec[0], got.Batch = outbox.JobSent, 'X', append(got.Batch, "x")
	if j := r.job("j1"); j.State != outbox.JobQueued || j.Spec[0] == 'X' || len(j.Batch) != 0 {
		r.t.Fatalf("changing a job read from the store changed the store: %+v", j.JobStatus)
	}
}

func concurrentAdds(r *rig) {
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("j%02d", i)
			errs <- r.s.Add(r.ctx, &outbox.Job{JobStatus: outbox.JobStatus{ID: id, State: outbox.JobQueued}, Lane: fmt.Sprintf("l%d", i%5), Spec: []byte(`{}`)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			r.t.Fatal(err)
		}
	}
	got := ids(r.claim("w"))
	slices.Sort(got)
	if len(slices.Compact(got)) != n {
		r.t.Fatalf("claimed %d distinct jobs of %d added", len(got), n)
	}
}

// staleWorker plays a worker that crashed holding jobs: once its claim
// lapses another takes them with what it wrote, and it writes no more.
func staleWorker(r *rig, timeout time.Duration) {
	r.add("j1", "l")
	r.add("j2", "l")
	a := r.claim("a")
	r.want("a's claim", a, "j1", "j2")
	a[0].State = outbox.JobSending
	r.save("a", a[0])
	r.want("b's claim while a holds the lane", r.claim("b"))
	time.Sleep(timeout + timeout/2)
	b := r.claim("b")
	r.want("b's claim after a's lapsed", b, "j1", "j2")
	if b[0].State != outbox.JobSending {
		r.t.Fatalf("b got j1 as %s, not as a wrote it", b[0].State)
	}
	a[1].State = outbox.JobSent
	isErr(r, "the stale worker's save", r.s.Save(r.ctx, "a", a[1:]), outbox.ErrClaimLost)
	if j := r.job("j2"); j.State != outbox.JobQueued {
		r.t.Fatalf("the stale write landed: j2 is %s", j.State)
	}
}

func uniqueKeys(r *rig) {
	job := func(id string, key uint64, unique bool) *outbox.Job {
		return &outbox.Job{JobStatus: outbox.JobStatus{ID: id, State: outbox.JobQueued, Key: key}, Lane: "l", Spec: []byte(`{}`), Unique: unique}
	}
	if err := r.s.Add(r.ctx, job("j1", 42, true)); err != nil {
		r.t.Fatal(err)
	}
	var dup *outbox.DuplicateError
	if err := r.s.Add(r.ctx, job("j2", 42, true)); !errors.As(err, &dup) || dup.ID != "j1" {
		r.t.Fatalf("a second job with key 42: %v, want a *DuplicateError naming j1", err)
	}
	if _, err := r.s.Job(r.ctx, "j2"); !errors.Is(err, outbox.ErrJobNotFound) {
		r.t.Fatalf("the duplicate was kept: %v", err)
	}
	if err := r.s.Add(r.ctx, job("j3", 42, false)); err != nil {
		r.t.Fatalf("a job whose key the store picked is never a duplicate: %v", err)
	}
	if err := r.s.Add(r.ctx, job("j4", 43, true)); err != nil {
		r.t.Fatal(err)
	}
	claimed := r.claim("w")
	r.want("claim", claimed, "j1", "j3", "j4")
	j1 := claimed[0]
	j1.State = outbox.JobFailed
	r.save("w", j1)
	if err := r.s.Drop(r.ctx, "j1"); err != nil {
		r.t.Fatal(err)
	}
	if err := r.s.Add(r.ctx, job("j5", 42, true)); err != nil {
		r.t.Fatalf("after its job was dropped, a key is free again: %v", err)
	}
}

// tenure: a worker that let a lane go (or lost it) and claimed it again
// holds new copies; a save of the old ones, which another worker may have
// overtaken meanwhile, writes nothing.
func tenure(r *rig) {
	r.add("j1", "l")
	old := r.claim("a")
	r.want("a's first claim", old, "j1")
	if err := r.s.Release(r.ctx, "a"); err != nil {
		r.t.Fatal(err)
	}
	b := r.claim("b")
	r.want("b's claim", b, "j1")
	b[0].State, b[0].Sent = outbox.JobSent, 1
	r.save("b", b[0])
	r.add("j2", "l")
	if err := r.s.Release(r.ctx, "b"); err != nil {
		r.t.Fatal(err)
	}
	r.want("a's second claim", r.claim("a"), "j2")
	old[0].State = outbox.JobMaybeDelivered
	isErr(r, "a's save of its copy from before", r.s.Save(r.ctx, "a", old), outbox.ErrClaimLost)
	if j := r.job("j1"); j.State != outbox.JobSent {
		r.t.Fatalf("the stale copy overwrote b's delivery: j1 is %s", j.State)
	}
	dead, err := r.s.DeadLetters(r.ctx, 10)
	if err != nil || len(dead) != 0 {
		r.t.Fatalf("the stale copy made a dead letter: %v, %v", ids(dead), err)
	}
}

func limits(r *rig) {
	for i := range 12 {
		r.add(fmt.Sprintf("j%02d", i), fmt.Sprintf("lane-%d", i%4))
	}
	got, err := r.s.Claim(r.ctx, "w", 5)
	if err != nil {
		r.t.Fatal(err)
	}
	if len(got) > 5 {
		r.t.Fatalf("Claim(max 5) handed %d jobs", len(got))
	}
	for _, j := range got {
		j.State = outbox.JobFailed
		r.save("w", j)
	}
	for _, max := range []int{-1, 0} {
		dead, err := r.s.DeadLetters(r.ctx, max)
		if err != nil || len(dead) != 0 {
			r.t.Fatalf("DeadLetters(%d) = %v, %v: want none", max, ids(dead), err)
		}
	}
	dead, err := r.s.DeadLetters(r.ctx, 2)
	if err != nil || len(dead) != min(2, len(got)) {
		r.t.Fatalf("DeadLetters(2) = %v, %v", ids(dead), err)
	}
}
