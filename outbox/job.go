package outbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/imbridge/middleware"
)

// JobState is where a queued push stands.
type JobState string

// The states of a job. Queued and Sending are still the Outbox's to
// deliver; the other three are final until a caller resends or drops a
// dead letter.
const (
	// JobQueued waits for its turn under the budget.
	JobQueued JobState = "queued"
	// JobSending has had a request leave, or about to leave, for it.
	JobSending JobState = "sending"
	// JobSent reached JobStatus.Sent targets.
	JobSent JobState = "sent"
	// JobFailed was refused for good (JobStatus.LastErrorClass says why):
	// a dead letter. Nothing of it was delivered.
	JobFailed JobState = "failed"
	// JobMaybeDelivered may have reached the platform before its answer
	// was lost (a crash, a timeout after writing, a partial send). It was
	// not sent again, because the platform would show it twice: a dead
	// letter, to check and then resend or drop.
	JobMaybeDelivered JobState = "maybe_delivered"
)

// Final reports whether the Outbox is done with a job in state s.
func (s JobState) Final() bool { return s == JobSent || s == JobFailed || s == JobMaybeDelivered }

// Dead reports whether a job in state s waits for a person: a dead letter
// (JobFailed or JobMaybeDelivered).
func (s JobState) Dead() bool { return s == JobFailed || s == JobMaybeDelivered }

// JobStatus is what an Outbox knows of one job.
type JobStatus struct {
	// ID names the job; Outbox.Push and the other enqueue methods return it.
	ID string
	// State is where the job stands.
	State JobState
	// Sent is how many targets the job reached, when JobSent.
	Sent int
	// LastErrorClass is middleware.ErrorClass of the last failure
	// ("rate_limited", "invalid_item", "api", ...); LastError is its text,
	// with no secrets. Both are empty when nothing failed.
	LastErrorClass string `json:"Class,omitempty"`
	LastError      string `json:"Err,omitempty"`
	// Attempts counts the job's tries: the requests that may have left for
	// it, and the tries refused before sending because its account was
	// offline. A refusal by the client's own budget is not one.
	Attempts int
	// Enqueued, FirstAttempt and Updated are when the job was queued, when
	// a request first may have left for it, and when it last changed.
	Enqueued, FirstAttempt, Updated time.Time
	// NotBefore is when a queued job is tried next; zero: now.
	NotBefore time.Time
	// Batch lists the jobs, this one among them, that the last attempt
	// merged into one message, in order; empty when it went alone.
	Batch []string `json:",omitempty"`
	// Key is the job's idempotency key (see middleware.WithIdempotencyKey):
	// a merged message carries its first job's key.
	Key uint64
	// Parts counts the messages of the push (a split text, a mixed push)
	// the platform took in earlier attempts: the next attempt, or a
	// resend, starts after them, so none shows twice.
	Parts int `json:",omitempty"`
}

// Job is the unit a Store keeps: the status and the push.
type Job struct {
	JobStatus
	// Lane names the target and account: the jobs of one lane are
	// delivered in order, one request at a time, by one worker.
	Lane string
	// Spec is the push, encoded by the Outbox; stores keep it as is.
	Spec []byte
	// Unique says the caller gave Key (middleware.WithIdempotencyKey):
	// the store keeps one job per such key (see Store.Add), and, on a
	// platform that deduplicates by the key (TIM), the job is never
	// merged with another.
	Unique bool `json:",omitempty"`
	// Text is the merged text of the batch this job heads, written before
	// its first request: a retry or a takeover sends it again byte for
	// byte, whatever the separator of the worker that does.
	Text string `json:",omitempty"`
	// Ref is the store's own handle on the job (a stream entry id, say);
	// the Outbox never reads it.
	Ref string `json:",omitempty"`
	// Claim names the claim this copy was handed under: the worker and
	// its tenure of the lane, set by Store.Claim. Save refuses a copy whose
	// claim is no longer the store's, even after the same worker claimed
	// the lane again: what it holds may be stale. Stores never keep it.
	Claim string `json:"-"`
}

// clone copies j, its slices included, so that a store and the Outbox
// never share one.
func (j *Job) clone() *Job {
	c := *j
	c.Batch = append([]string(nil), j.Batch...)
	c.Spec = append([]byte(nil), j.Spec...)
	return &c
}

// spec is a push as stored: the helper's arguments and its options, as
// values any process can read back. Its JSON is the stored format: add
// fields, never rename them.
type spec struct {
	Helper   middleware.Helper        `json:"helper"`
	IM       string                   `json:"im"`
	Account  string                   `json:"account"`
	Group    string                   `json:"group,omitempty"`
	User     string                   `json:"user,omitempty"`
	Title    string                   `json:"title,omitempty"`
	Items    []middleware.Item        `json:"items"`
	Filename string                   `json:"filename,omitempty"`
	MIME     string                   `json:"mime,omitempty"`
	Timeout  time.Duration            `json:"timeout,omitempty"`
	Fields   map[string]any           `json:"fields,omitempty"`
	Policy   *middleware.SourcePolicy `json:"policy,omitempty"`
	Backend  json.RawMessage          `json:"backend,omitempty"`
	KeyGiven bool                     `json:"key_given,omitempty"`
}

// mergeable reports whether the push is one text that may share a message
// with the next of its lane. A push with a key of the caller's does only
// where the platform does not deduplicate (keyed is false): there the key
// keeps one job per key in the store and nothing else; on a platform that
// drops repeats by it (TIM) it is the message's identity, which a merged
// message, sent under its head's key, would not keep.
func (s *spec) mergeable(keyed bool) bool {
	return s.Helper == middleware.HelperPush && len(s.Items) == 1 && s.Items[0].Type == middleware.TextItem && (!s.KeyGiven || !keyed)
}

// mergeKey hashes all of the push but its text: pushes with equal keys
// differ only in what they say, so one message can carry them.
func (s *spec) mergeKey() (uint64, error) {
	c := *s
	c.Items = nil
	c.KeyGiven = false // whether a key was given is not what a message says
	b, err := json.Marshal(&c)
	if err != nil {
		return 0, err
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64(), nil
}

// lane names the target and account of the push.
func (s *spec) lane() string {
	return fmt.Sprintf("%s|%s|%d:%s|%d:%s", s.IM, s.Account, len(s.Group), s.Group, len(s.User), s.User)
}

// decodeSpec reads a stored push; numbers in Fields stay exact. A field
// this version does not know (written by a newer one) is an error: the
// job fails with it as its reason, never sent without what it asked.
func decodeSpec(b []byte) (*spec, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	d.DisallowUnknownFields()
	var s spec
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("outbox: unreadable job: %w", err)
	}
	return &s, nil
}

// settings are the push's options as values, its backend's left out.
func (s *spec) settings(key uint64) middleware.Settings {
	return middleware.Settings{AccountID: s.Account, Filename: s.Filename, MIME: s.MIME, Timeout: s.Timeout,
		Fields: s.Fields, Policy: s.Policy, IdempotencyKey: key}
}

// options rebuilds the push's options: its settings and the backend's
// own, decoded by codec (nil: the backend has none).
func (s *spec) options(codec OptionCodec, key uint64) ([]middleware.Option, error) {
	opts := s.settings(key).Options()
	if len(s.Backend) == 0 {
		return opts, nil
	}
	if codec == nil {
		return nil, fmt.Errorf("%w: outbox: the job has backend options and its account's backend cannot read them", middleware.ErrInvalidOption)
	}
	o, err := codec.DecodeOptions(s.Backend)
	if err != nil {
		return nil, fmt.Errorf("%w: outbox: backend options: %w", middleware.ErrInvalidOption, err)
	}
	return append(opts, o), nil
}

// request is the push as the Request a Client sends: text is the merged
// text of several jobs, or "" for the job's own items.
func (s *spec) request(opts []middleware.Option, text string) middleware.Request {
	r := middleware.Request{Helper: s.Helper, IM: s.IM, GroupCode: s.Group, UserID: s.User, Title: s.Title, Options: opts}
	switch {
	case text != "":
		r.Content = text
	case s.Helper == middleware.HelperMixed || len(s.Items) != 1:
		r.Items = s.Items
	case s.Helper == middleware.HelperPush:
		r.Content = s.Items[0].Text
	default:
		r.Content = s.Items[0].Source
	}
	return r
}
