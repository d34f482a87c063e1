package middleware

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Outbox queues pushes and delivers them under the platforms' budgets: an
// alert flood is not refused with ErrRateLimited nor does it block its
// caller. Its enqueue methods take the six helpers' arguments and options,
// check them and pick the account at once, and return a job id; Run
// delivers, in this process or in any replica sharing the store. Text
// pushes to one target that wait too long are merged (WithCoalesceAfter).
// A push that may have reached WeCom before its answer was lost is never
// sent again on its own: it becomes a dead letter marked
// JobMaybeDelivered. TIM drops repeats, so there a push is resent with the
// same dedup keys instead. See the README's "Outbox" section for every
// case. An Outbox is safe for concurrent use.
type Outbox struct {
	c      *Client
	store  OutboxStore
	cfg    outboxConfig
	wakeup chan struct{}
	run    atomic.Bool
}

// OutboxOption configures an Outbox. See NewOutbox.
type OutboxOption func(*outboxConfig) error

type outboxConfig struct {
	store       OutboxStore
	after       time.Duration // coalesce texts that waited this long; < 0: never
	separator   string
	workers     int
	poll        time.Duration
	maxAttempts int
	claimBatch  int
	worker      string
}

// NewOutbox returns an Outbox that sends with c. Default: a
// MemoryOutboxStore, texts merged after waiting 2 s, joined by a blank
// line, 8 lanes delivered at once.
func NewOutbox(c *Client, opts ...OutboxOption) (*Outbox, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: NewOutbox: nil Client", ErrInvalidOption)
	}
	cfg := outboxConfig{after: 2 * time.Second, separator: "\n\n", workers: 8, poll: 200 * time.Millisecond,
		maxAttempts: 8, claimBatch: 1000}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.store == nil {
		cfg.store = NewMemoryOutboxStore(0)
	}
	if cfg.worker == "" {
		cfg.worker = "w-" + randomHex(8)
	}
	return &Outbox{c: c, store: cfg.store, cfg: cfg, wakeup: make(chan struct{}, 1)}, nil
}

// WithOutboxStore keeps the jobs in s: redisstate.NewOutboxStore for jobs
// that must outlive the process and be shared by replicas. Default: a
// MemoryOutboxStore, whose jobs are lost when the process exits.
func WithOutboxStore(s OutboxStore) OutboxOption {
	return func(c *outboxConfig) error {
		if s == nil {
			return fmt.Errorf("%w: WithOutboxStore(nil)", ErrInvalidOption)
		}
		c.store = s
		return nil
	}
}

// WithCoalesceAfter merges text pushes (Push, not markdown items of
// PushMixed, never media) to one target and account, with the same title
// and options, once the first of them has waited d: in order, joined by the
// separator, into as few messages as the platform's size limits allow. 0
// merges whatever waits. d < 0 is ErrInvalidOption; WithoutCoalescing
// turns merging off. Default: 2 s.
func WithCoalesceAfter(d time.Duration) OutboxOption {
	return func(c *outboxConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: WithCoalesceAfter(%s): negative delay", ErrInvalidOption, d)
		}
		c.after = d
		return nil
	}
}

// WithoutCoalescing sends every push as its own message, however long it
// waits. Default: merged after WithCoalesceAfter's delay.
func WithoutCoalescing() OutboxOption {
	return func(c *outboxConfig) error {
		c.after = -1
		return nil
	}
}

// WithSeparator sets what goes between merged texts. Empty is
// ErrInvalidOption: texts would run into each other. Default: "\n\n".
func WithSeparator(s string) OutboxOption {
	return func(c *outboxConfig) error {
		if s == "" {
			return fmt.Errorf("%w: WithSeparator(\"\"): merged texts would run together", ErrInvalidOption)
		}
		c.separator = s
		return nil
	}
}

// WithWorkers sets how many lanes (target and account) Run delivers at
// once; each lane stays in order. n < 1 is ErrInvalidOption. Default: 8.
func WithWorkers(n int) OutboxOption {
	return func(c *outboxConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: WithWorkers(%d): at least 1", ErrInvalidOption, n)
		}
		c.workers = n
		return nil
	}
}

// WithPollInterval sets how often Run asks the store for jobs other
// processes queued (its own are seen at once). d <= 0 is ErrInvalidOption.
// Default: 200 ms.
func WithPollInterval(d time.Duration) OutboxOption {
	return func(c *outboxConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithPollInterval(%s): must be positive", ErrInvalidOption, d)
		}
		c.poll = d
		return nil
	}
}

// WithMaxAttempts sets how many times a job refused for a passing reason,
// surely undelivered (the platform's rate limit, a network failure before
// writing, an offline account), is tried before it fails for good. A refusal by the client's own budget,
// which sends nothing, does not count. n < 1 is ErrInvalidOption.
// Default: 8.
func WithMaxAttempts(n int) OutboxOption {
	return func(c *outboxConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxAttempts(%d): at least 1", ErrInvalidOption, n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithWorkerName names this Outbox's worker in the store (a pod name, say).
// Names must differ between processes sharing a store. Default: random.
func WithWorkerName(name string) OutboxOption {
	return func(c *outboxConfig) error {
		if name == "" {
			return fmt.Errorf("%w: WithWorkerName(\"\")", ErrInvalidOption)
		}
		c.worker = name
		return nil
	}
}

// Push queues text, as Client.Push sends it, and returns the job's id.
func (o *Outbox) Push(ctx context.Context, imType, groupCode, userID, title, content string, opts ...Option) (string, error) {
	cl := &call{helper: "push", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return o.enqueue(ctx, cl, cl.textItem(content))
}

// PushImage queues an image, as Client.PushImage sends it. A local path
// must be readable by whichever process delivers it.
func (o *Outbox) PushImage(ctx context.Context, imType, groupCode, userID, title, imageURL string, opts ...Option) (string, error) {
	cl := &call{helper: "pushImage", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return o.enqueue(ctx, cl, cl.mediaItem(ImageItem, "imageURL", imageURL))
}

// PushVoice queues a voice message, as Client.PushVoice sends it.
func (o *Outbox) PushVoice(ctx context.Context, imType, groupCode, userID, title, voiceURL string, opts ...Option) (string, error) {
	cl := &call{helper: "pushVoice", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return o.enqueue(ctx, cl, cl.mediaItem(VoiceItem, "voiceURL", voiceURL))
}

// PushVideo queues a video, as Client.PushVideo sends it.
func (o *Outbox) PushVideo(ctx context.Context, imType, groupCode, userID, title, videoURL string, opts ...Option) (string, error) {
	cl := &call{helper: "pushVideo", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return o.enqueue(ctx, cl, cl.mediaItem(VideoItem, "videoURL", videoURL))
}

// PushFile queues a file, as Client.PushFile sends it.
func (o *Outbox) PushFile(ctx context.Context, imType, groupCode, userID, title, fileURL string, opts ...Option) (string, error) {
	cl := &call{helper: "pushFile", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return o.enqueue(ctx, cl, cl.mediaItem(FileItem, "fileURL", fileURL))
}

// PushMixed queues several items as one push, as Client.PushMixed sends
// them.
func (o *Outbox) PushMixed(ctx context.Context, imType, groupCode, userID, title string, items []Item, opts ...Option) (string, error) {
	cl := &call{helper: "pushMixed", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return o.enqueue(ctx, cl, cl.mixedItems(items))
}

// refuse names the call in an enqueue error.
func (o *Outbox) refuse(cl *call, err error) error {
	cl.helper = "queue " + cl.helper
	return prefix(cl, err)
}

// enqueue checks the push as a helper would before sending, picks its
// account, and stores it; err is what checking its arguments found.
func (o *Outbox) enqueue(ctx context.Context, cl *call, err error) (string, error) {
	if ctx == nil {
		err = errNilContext
	}
	if err != nil {
		return "", o.refuse(cl, err)
	}
	spec, key, err := o.check(ctx, cl)
	if err != nil {
		return "", o.refuse(cl, err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return "", o.refuse(cl, fmt.Errorf("%w: %w", ErrInvalidOption, err))
	}
	now := time.Now()
	job := &OutboxJob{JobStatus: JobStatus{ID: newJobID(now), State: JobQueued, Enqueued: now, Updated: now, Key: key},
		Lane: spec.lane(), Spec: b}
	if err := o.store.Add(ctx, job); err != nil {
		return "", o.refuse(cl, err)
	}
	o.wake()
	return job.ID, nil
}

// check runs what Client.send runs before any I/O, and turns the push
// into the values the store keeps.
func (o *Outbox) check(ctx context.Context, cl *call) (*jobSpec, uint64, error) {
	cfg := newCallConfig(cl.opts)
	if cfg.err != nil {
		return nil, 0, cfg.err
	}
	if cfg.progress != nil {
		return nil, 0, fmt.Errorf("%w: WithProgress: a queued push is delivered later, with nobody to report to", ErrInvalidOption)
	}
	msg, err := o.c.message(cl, cfg)
	if err != nil {
		return nil, 0, err
	}
	acct, err := o.c.resolve(ctx, cl.imType, cfg.accountID)
	if err != nil {
		return nil, 0, err
	}
	cl.account, msg.AccountID = acct.ID, acct.ID
	if v, ok := acct.Backend.(Validator); ok {
		if err := v.Validate(msg); err != nil {
			return nil, 0, err
		}
	}
	spec := &jobSpec{Helper: cl.helper, IM: cl.imType, Account: acct.ID, Group: cl.groupCode, User: cl.userID,
		Title: cl.title, Items: cl.items, Filename: cfg.filename, MIME: cfg.mime, Policy: cfg.policy}
	if cfg.timeoutSet {
		spec.Timeout = cfg.timeout
	}
	for k, v := range cfg.fields {
		if _, err := json.Marshal(v); err != nil {
			return nil, 0, fmt.Errorf("%w: WithField(%q): cannot be stored: %w", ErrInvalidOption, k, err)
		}
	}
	spec.Fields = cfg.fields
	if len(cfg.extras) > 0 {
		codec, ok := acct.Backend.(OptionCodec)
		if !ok {
			return nil, 0, fmt.Errorf("%w: the backend of account %s cannot store its options (no OptionCodec)", ErrInvalidOption, acct.ID)
		}
		if spec.Backend, err = codec.EncodeOptions(cfg.extras); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
	}
	key := cfg.key
	for key == 0 {
		key = binary.LittleEndian.Uint64(randomBytes(8))
	}
	return spec, key, nil
}

// wake tells Run a job was queued here.
func (o *Outbox) wake() {
	select {
	case o.wakeup <- struct{}{}:
	default:
	}
}

// Status returns what the store knows of job id: ErrJobNotFound if
// nothing.
func (o *Outbox) Status(ctx context.Context, id string) (JobStatus, error) {
	j, err := o.store.Job(ctx, id)
	if err != nil {
		return JobStatus{}, err
	}
	return j.JobStatus, nil
}

// Wait returns job id's status once it is final (sent, failed or maybe
// delivered), or ctx's error.
func (o *Outbox) Wait(ctx context.Context, id string) (JobStatus, error) {
	d := 5 * time.Millisecond
	for {
		s, err := o.Status(ctx, id)
		if err != nil || s.State.Final() {
			return s, err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return s, ctx.Err()
		case <-t.C:
		}
		d = min(2*d, 200*time.Millisecond)
	}
}

// DeadLetters returns up to max jobs the Outbox will not deliver on its
// own, oldest first: JobFailed and JobMaybeDelivered.
func (o *Outbox) DeadLetters(ctx context.Context, max int) ([]JobStatus, error) {
	jobs, err := o.store.DeadLetters(ctx, max)
	if err != nil {
		return nil, err
	}
	out := make([]JobStatus, len(jobs))
	for i, j := range jobs {
		out[i] = j.JobStatus
	}
	return out, nil
}

// Resend queues dead letter id again, at the end of its lane, as the
// caller's decision: a JobMaybeDelivered push may then show twice on
// WeCom. It keeps its idempotency key, so TIM still drops it if the first
// send arrived less than its dedup window ago. ErrJobNotFound if id is not
// a dead letter.
func (o *Outbox) Resend(ctx context.Context, id string) error {
	j, err := o.store.Job(ctx, id)
	if err != nil {
		return err
	}
	if !j.State.dead() {
		return fmt.Errorf("%w: %s is %s, not a dead letter", ErrJobNotFound, id, j.State)
	}
	j.State, j.Sent, j.Class, j.Err, j.Attempts = JobQueued, 0, "", "", 0
	j.FirstAttempt, j.NotBefore, j.Batch, j.Updated = time.Time{}, time.Time{}, nil, time.Now()
	if err := o.store.Requeue(ctx, j); err != nil {
		return err
	}
	o.wake()
	return nil
}

// Drop forgets dead letter id. ErrJobNotFound if it is not one.
func (o *Outbox) Drop(ctx context.Context, id string) error {
	j, err := o.store.Job(ctx, id)
	if err != nil {
		return err
	}
	if !j.State.dead() {
		return fmt.Errorf("%w: %s is %s, not a dead letter", ErrJobNotFound, id, j.State)
	}
	return o.store.Drop(ctx, id)
}

// newJobID makes an id that sorts in the order ids are made (by time),
// with random bits so that processes never collide.
func newJobID(now time.Time) string {
	return fmt.Sprintf("%016x-%s", now.UnixNano(), randomHex(4))
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return b
}

// errRunning refuses a second Run of one Outbox at a time.
var errRunning = errors.New("middleware: outbox: Run is already running")
