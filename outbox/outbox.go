package outbox

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

	"github.com/imbridge/middleware"
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
// same dedup keys instead. An Outbox is safe for concurrent use.
type Outbox struct {
	c      *middleware.Client
	store  Store
	cfg    config
	wakeup chan struct{}
	run    atomic.Bool
}

// New returns an Outbox that sends with c. Default: a MemoryStore, texts
// merged after waiting 2 s, joined by a blank line, 8 lanes delivered at
// once.
func New(c *middleware.Client, opts ...Option) (*Outbox, error) {
	if c == nil {
		return nil, invalid("New: nil Client")
	}
	cfg, err := newConfig(c, opts)
	if err != nil {
		return nil, err
	}
	return &Outbox{c: c, store: cfg.store, cfg: cfg, wakeup: make(chan struct{}, 1)}, nil
}

// Push queues text, as middleware.Client.Push sends it, and returns the
// job's id.
func (o *Outbox) Push(ctx context.Context, imType, groupCode, userID, title, content string, opts ...middleware.Option) (string, error) {
	return o.Enqueue(ctx, middleware.Request{Helper: middleware.HelperPush, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: content, Options: opts})
}

// PushImage queues an image, as middleware.Client.PushImage sends it. A
// local path must be readable by whichever process delivers it.
func (o *Outbox) PushImage(ctx context.Context, imType, groupCode, userID, title, imageURL string, opts ...middleware.Option) (string, error) {
	return o.Enqueue(ctx, middleware.Request{Helper: middleware.HelperImage, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: imageURL, Options: opts})
}

// PushVoice queues a voice message, as middleware.Client.PushVoice sends
// it.
func (o *Outbox) PushVoice(ctx context.Context, imType, groupCode, userID, title, voiceURL string, opts ...middleware.Option) (string, error) {
	return o.Enqueue(ctx, middleware.Request{Helper: middleware.HelperVoice, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: voiceURL, Options: opts})
}

// PushVideo queues a video, as middleware.Client.PushVideo sends it.
func (o *Outbox) PushVideo(ctx context.Context, imType, groupCode, userID, title, videoURL string, opts ...middleware.Option) (string, error) {
	return o.Enqueue(ctx, middleware.Request{Helper: middleware.HelperVideo, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: videoURL, Options: opts})
}

// PushFile queues a file, as middleware.Client.PushFile sends it.
func (o *Outbox) PushFile(ctx context.Context, imType, groupCode, userID, title, fileURL string, opts ...middleware.Option) (string, error) {
	return o.Enqueue(ctx, middleware.Request{Helper: middleware.HelperFile, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: fileURL, Options: opts})
}

// PushMixed queues several items as one push, as
// middleware.Client.PushMixed sends them.
func (o *Outbox) PushMixed(ctx context.Context, imType, groupCode, userID, title string, items []middleware.Item, opts ...middleware.Option) (string, error) {
	return o.Enqueue(ctx, middleware.Request{Helper: middleware.HelperMixed, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Items: items, Options: opts})
}

// Enqueue checks r as Client.Do would before sending (middleware.Client.Check:
// arguments, items, sources, account, the backend's limits), picks its
// account, stores it and returns its job id. What the check finds is
// returned before anything is stored. WithProgress cannot be queued; a
// backend option can only when its backend is an OptionCodec. A push with
// middleware.WithIdempotencyKey is queued once: while the store keeps a
// job with that key, Enqueue returns that job's id. On a platform that
// drops repeats by the key (TIM) such a job is never merged with another;
// elsewhere the key means nothing to the platform, and the job merges.
func (o *Outbox) Enqueue(ctx context.Context, r middleware.Request) (string, error) {
	if ctx == nil {
		return "", fmt.Errorf("outbox: queue %s: nil context (use context.Background())", r.Helper)
	}
	chk, err := o.c.Check(ctx, r)
	if err != nil {
		return "", fmt.Errorf("outbox: queue: %w", err)
	}
	s, err := o.spec(r, chk)
	if err != nil {
		return "", fmt.Errorf("outbox: queue %s to %s as %s: %w", r.Helper, r.IM, chk.Account.ID, err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", invalid("queue %s: %v", r.Helper, err)
	}
	key := chk.Settings.IdempotencyKey
	for key == 0 {
		key = binary.LittleEndian.Uint64(randomBytes(8))
	}
	now := time.Now()
	job := &Job{JobStatus: JobStatus{ID: newJobID(now), State: JobQueued, Enqueued: now, Updated: now, Key: key},
		Lane: s.lane(), Spec: b, Unique: s.KeyGiven}
	var dup *DuplicateError
	if err := o.store.Add(ctx, job); errors.As(err, &dup) {
		return dup.ID, nil // the same push, queued before: one job per key
	} else if err != nil {
		return "", fmt.Errorf("outbox: queue %s to %s: storing the job: %w", r.Helper, r.IM, err)
	}
	o.wake()
	return job.ID, nil
}

// spec turns a checked push into what the store keeps.
func (o *Outbox) spec(r middleware.Request, chk middleware.Checked) (*spec, error) {
	set := chk.Settings
	if set.Progress != nil {
		return nil, fmt.Errorf("%w: WithProgress: a queued push is delivered later, with nobody to report to", middleware.ErrInvalidOption)
	}
	for k, v := range set.Fields {
		if _, err := json.Marshal(v); err != nil {
			return nil, fmt.Errorf("%w: WithField(%q): cannot be stored: %w", middleware.ErrInvalidOption, k, err)
		}
	}
	s := &spec{Helper: r.Helper, IM: r.IM, Account: chk.Account.ID, Group: r.GroupCode, User: r.UserID,
		Title: r.Title, Items: chk.Items, Filename: set.Filename, MIME: set.MIME, Timeout: set.Timeout,
		Fields: set.Fields, Policy: set.Policy, KeyGiven: set.IdempotencyKey != 0}
	if len(set.Extras) > 0 {
		codec, ok := chk.Account.Backend.(OptionCodec)
		if !ok {
			return nil, fmt.Errorf("%w: the backend of account %s cannot store its options (no OptionCodec)", middleware.ErrInvalidOption, chk.Account.ID)
		}
		var err error
		if s.Backend, err = codec.EncodeOptions(set.Extras); err != nil {
			return nil, fmt.Errorf("%w: %w", middleware.ErrInvalidOption, err)
		}
	}
	return s, nil
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
