package outbox

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/imbridge/middleware"
)

// attempt is one delivery: the jobs it carries and how to send them.
type attempt struct {
	jobs   []*Job
	prev   []JobStatus         // before this attempt: what a refusal restores
	texts  []string            // and the jobs' Text before it
	spec   *spec               // the first job's
	opts   []middleware.Option // the first job's, with its idempotency key
	text   string              // the merged text, when jobs are several
	window time.Duration       // the platform's dedup window; 0: none
}

// compose picks what the lane's next request carries: the head, and the
// texts that may share its message. A head already sending (a crash, or a
// TIM retry) goes again exactly as before, with the same key.
func (o *Outbox) compose(ctx context.Context, jobs []*Job) (*attempt, error) {
	head := jobs[0]
	a := &attempt{jobs: jobs[:1]}
	defer func() {
		a.prev = statuses(a.jobs)
		for _, j := range a.jobs {
			a.texts = append(a.texts, j.Text)
		}
	}()
	s, err := decodeSpec(head.Spec)
	if err != nil {
		return a, err
	}
	a.spec = s
	acct, err := o.c.Resolve(ctx, s.IM, middleware.WithAccountID(s.Account))
	if err != nil {
		return a, err // unknown accounts fail the job, offline ones wait (see judge)
	}
	codec, _ := acct.Backend.(OptionCodec)
	if a.opts, err = s.options(codec, head.Key); err != nil {
		return a, err
	}
	if head.Parts > 0 {
		a.opts = append(a.opts, middleware.Settings{Resume: head.Parts}.Options()...)
	}
	if d, ok := acct.Backend.(Deduplicator); ok {
		a.window = d.DedupWindow(probe(s, a.opts, s.Items))
	}
	planner, _ := acct.Backend.(Planner)
	_, keyed := acct.Backend.(Deduplicator) // the platform drops repeats by key
	switch {
	case head.State == JobSending:
		// It may have left: the same message again, byte for byte, never
		// a new composition under its key.
		if len(head.Batch) > 1 {
			a.rebuild(jobs)
		}
	case planner != nil && o.cfg.after >= 0 && s.mergeable(keyed) && head.Parts == 0 && time.Since(head.Enqueued) >= o.cfg.after:
		a.merge(jobs, planner, o.cfg.separator, keyed)
	}
	return a, nil
}

// rebuild makes the message an earlier attempt sent again: the text the
// head wrote ahead, carried by the same jobs, found in order at the head
// of the lane. When they are not all at hand, or the text was not
// written, the message cannot be rebuilt, and the head must not go again
// as if a repeat of it would be dropped.
func (a *attempt) rebuild(jobs []*Job) {
	head := jobs[0]
	for n, id := range head.Batch {
		if n >= len(jobs) || jobs[n].ID != id || jobs[n].State != JobSending || head.Text == "" {
			a.window = 0
			a.jobs = jobs[:1]
			return
		}
	}
	a.jobs = jobs[:len(head.Batch)]
	a.text = head.Text
}

// merge adds to the head the queued texts behind it that differ from it
// only in what they say, while the joined text still takes one message.
func (a *attempt) merge(jobs []*Job, planner Planner, sep string, keyed bool) {
	key, err := a.spec.mergeKey()
	if err != nil {
		return
	}
	texts := []string{a.spec.Items[0].Text}
	for _, next := range jobs[1:] {
		if next.State != JobQueued || next.Parts > 0 {
			break
		}
		s, err := decodeSpec(next.Spec)
		if err != nil || !s.mergeable(keyed) {
			break
		}
		if k, err := s.mergeKey(); err != nil || k != key {
			break
		}
		joined := strings.Join(append(texts, s.Items[0].Text), sep)
		item := []middleware.Item{{Type: middleware.TextItem, Text: joined}}
		if n, err := planner.Messages(probe(a.spec, a.opts, item)); err != nil || n != 1 {
			break
		}
		texts = append(texts, s.Items[0].Text)
		a.jobs = jobs[:len(a.jobs)+1]
	}
	if len(a.jobs) > 1 {
		a.text = strings.Join(texts, sep)
	}
}

// probe is the push as a Message holding items, for a backend's planning
// (no sources are read).
func probe(s *spec, opts []middleware.Option, items []middleware.Item) *middleware.Message {
	m := &middleware.Message{IM: s.IM, GroupCode: s.Group, UserID: s.User, Title: s.Title, AccountID: s.Account, Items: items}
	if set, err := (middleware.Request{Options: opts}).Settings(); err == nil {
		m.Fields, m.Filename, m.MIME, m.Extras, m.IdempotencyKey = set.Fields, set.Filename, set.MIME, set.Extras, set.IdempotencyKey
	}
	return m
}

// request is the attempt as the Request the Client sends: merged texts in
// one item, under the first job's idempotency key, never waiting for the
// budget (Run waits, merging what queues meanwhile).
func (a *attempt) request() middleware.Request {
	text := ""
	if len(a.jobs) > 1 {
		text = a.text
	}
	return a.spec.request(append(slices.Clip(a.opts), middleware.WithMaxWait(0)), text)
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
		j.JobStatus, j.Text = a.prev[i], a.texts[i]
	}
}

func statuses(jobs []*Job) []JobStatus {
	out := make([]JobStatus, len(jobs))
	for i, j := range jobs {
		out[i] = j.JobStatus
		out[i].Batch = append([]string(nil), j.Batch...)
	}
	return out
}

func jobIDs(jobs []*Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}
