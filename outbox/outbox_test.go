package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// outboxRig is a Client with one WeCom and one TIM account on emulators.
type outboxRig struct {
	c   *middleware.Client
	wc  *imtest.WeCom
	tim *imtest.TIM
}

func newOutboxRig(t *testing.T, window time.Duration, perWindow int) *outboxRig {
	t.Helper()
	wc := imtest.NewWeCom(imtest.WithWeComRate(perWindow), imtest.WithWeComWindow(window))
	t.Cleanup(wc.Close)
	tim := imtest.NewTIM()
	t.Cleanup(tim.Close)
	wb, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(perWindow), wecom.WithRateWindow(window))
	require.NoError(t, err)
	tb, err := timchat.New(timchat.Config{SDKAppID: tim.SDKAppID, SecretKey: tim.SecretKey, Admin: tim.Admin, BaseURL: tim.URL})
	require.NoError(t, err)
	c, err := middleware.NewClient(
		middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: wb}),
		middleware.WithAccount(middleware.Account{ID: "app", IM: timchat.IM, Default: true, Backend: tb}))
	require.NoError(t, err)
	return &outboxRig{c: c, wc: wc, tim: tim}
}

// run starts o.Run and stops it, checking it returned, at cleanup.
func run(t *testing.T, o *outbox.Outbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
}

func waitAll(t *testing.T, o *outbox.Outbox, ids []string, d time.Duration) []outbox.JobStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out := make([]outbox.JobStatus, len(ids))
	for i, id := range ids {
		s, err := o.Wait(ctx, id)
		require.NoError(t, err, "job %d (%s) still %s", i, id, s.State)
		out[i] = s
	}
	return out
}

// TestOutboxFlood is the flood: 300 texts to one chat under 20 per
// window. None is refused by the platform, all arrive in order, and no
// window holds more messages than the budget.
func TestOutboxFlood(t *testing.T) {
	const window, budget, total = time.Second, 20, 300
	r := newOutboxRig(t, window, budget)
	o, err := outbox.New(r.c, outbox.WithCoalesceAfter(50*time.Millisecond), outbox.WithSeparator("\n"))
	require.NoError(t, err)
	ctx := context.Background()
	var ids, texts []string
	for i := range total {
		text := fmt.Sprintf("alert %03d: disk /var on host-%d is %d%% full", i, i%17, 80+i%20)
		id, err := o.Push(ctx, wecom.IM, "chat-1", "", "alerts", text)
		require.NoError(t, err)
		ids, texts = append(ids, id), append(texts, text)
	}
	run(t, o)
	for _, s := range waitAll(t, o, ids, 20*time.Second) {
		assert.Equal(t, outbox.JobSent, s.State)
		assert.Equal(t, 1, s.Sent)
	}
	assert.Zero(t, r.wc.Answered(45009), "the platform refused nothing")
	msgs := r.wc.Messages()
	var got []string
	for _, m := range msgs {
		assert.Equal(t, "text", m.Type)
		assert.LessOrEqual(t, len(m.Content), wecom.TextLimit)
		got = append(got, strings.Split(m.Content, "\n")...)
	}
	assert.Equal(t, texts, got, "every text, once, in order")
	assert.Less(t, len(msgs), total/4, "merged: the budget went on information, not on count")
	// No window, wherever it starts, holds more than the budget.
	for i := range msgs {
		n := 0
		for _, m := range msgs[i:] {
			if m.At.Sub(msgs[i].At) < window {
				n++
			}
		}
		assert.LessOrEqual(t, n, budget, "messages in the window from message %d", i)
	}
	t.Logf("%d texts in %d messages", total, len(msgs))
}

// TestOutboxWithoutCoalescing sends every push alone, in order, still
// under the budget.
func TestOutboxWithoutCoalescing(t *testing.T) {
	const window, budget, total = time.Second, 10, 25
	r := newOutboxRig(t, window, budget)
	o, err := outbox.New(r.c, outbox.WithoutCoalescing())
	require.NoError(t, err)
	var ids []string
	for i := range total {
		id, err := o.Push(context.Background(), wecom.IM, "chat-1", "", "", fmt.Sprintf("line %d", i))
		require.NoError(t, err)
		ids = append(ids, id)
	}
	run(t, o)
	for i, s := range waitAll(t, o, ids, 10*time.Second) {
		// Pushes past the first window were refused by the client's own
		// budget, which sends nothing: not an attempt.
		assert.Equal(t, 1, s.Attempts, "push %d", i)
	}
	msgs := r.wc.Messages()
	require.Len(t, msgs, total)
	for i, m := range msgs {
		assert.Equal(t, fmt.Sprintf("line %d", i), m.Content)
	}
	assert.Zero(t, r.wc.Answered(45009))
}

// TestOutboxMergesOnlyLikePushes keeps markdown as markdown, never merges
// media, and never merges pushes with different options or titles.
func TestOutboxMergesOnlyLikePushes(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 100)
	o, err := outbox.New(r.c, outbox.WithCoalesceAfter(0))
	require.NoError(t, err)
	ctx := context.Background()
	png := "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	var ids []string
	for _, p := range []struct {
		kind, title, text string
		opts              []middleware.Option
	}{
		{"md", "t", "**one**", []middleware.Option{wecom.Markdown()}},
		{"md", "t", "**two**", []middleware.Option{wecom.Markdown()}},
		{"image", "t", png, nil},
		{"md", "t", "**three**", []middleware.Option{wecom.Markdown()}},
		{"text", "t", "plain four", nil},
		{"text", "other title", "plain five", nil},
		{"text", "other title", "plain six", []middleware.Option{wecom.Mention("bob")}},
	} {
		var id string
		var err error
		if p.kind == "image" {
			id, err = o.PushImage(ctx, wecom.IM, "c", "", p.title, p.text)
		} else {
			id, err = o.Push(ctx, wecom.IM, "c", "", p.title, p.text, p.opts...)
		}
		require.NoError(t, err)
		ids = append(ids, id)
	}
	run(t, o)
	st := waitAll(t, o, ids, 5*time.Second)
	var shape []string
	for _, m := range r.wc.Messages() {
		shape = append(shape, m.Type+":"+m.Content)
	}
	assert.Equal(t, []string{
		"markdown:**one**\n\n**two**", "image:", "markdown:**three**", "text:plain four", "text:plain five", "text:plain six",
	}, shape)
	assert.Equal(t, []string{ids[0], ids[1]}, st[0].Batch, "the merged jobs name each other")
	assert.Equal(t, st[0].Batch, st[1].Batch)
	assert.Empty(t, st[2].Batch)
	assert.Equal(t, []string{"bob"}, r.wc.Messages()[5].Mentions, "options survive the store")
}

// nilContext is the nil context a careless caller passes.
var nilContext context.Context

// TestOutboxChecksAtEnqueue refuses what the helpers refuse, and what
// cannot be stored, before anything is queued or sent.
func TestOutboxChecksAtEnqueue(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	store := outbox.NewMemoryStore(0)
	o, err := outbox.New(r.c, outbox.WithStore(store))
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		do   func() (string, error)
		want error
		text string
	}{
		{"empty target id", func() (string, error) { return o.Push(ctx, wecom.IM, "a||b", "", "", "x") }, middleware.ErrInvalidTarget, "groupCode"},
		{"no content", func() (string, error) { return o.Push(ctx, wecom.IM, "a", "", "", "") }, middleware.ErrInvalidItem, "both empty"},
		{"unknown account", func() (string, error) {
			return o.Push(ctx, wecom.IM, "a", "", "", "x", middleware.WithAccountID("nope"))
		}, middleware.ErrUnknownAccount, "nope"},
		{"no account", func() (string, error) { return o.Push(ctx, "slack", "a", "", "", "x") }, middleware.ErrNoAccount, "slack"},
		{"backend limit", func() (string, error) {
			return o.Push(ctx, wecom.IM, "a", "", "", strings.Repeat("x", 5000), wecom.NoSplit())
		}, middleware.ErrTooLarge, "bytes"},
		{"progress", func() (string, error) {
			return o.Push(ctx, wecom.IM, "a", "", "", "x", middleware.WithProgress(func(int64, int64) {}))
		}, middleware.ErrInvalidOption, "WithProgress"},
		{"field that is no JSON", func() (string, error) {
			return o.Push(ctx, wecom.IM, "a", "", "", "x", middleware.WithField("f", func() {}))
		}, middleware.ErrInvalidOption, `WithField("f")`},
		{"missing file", func() (string, error) { return o.PushFile(ctx, wecom.IM, "a", "", "", "/no/such/file") }, middleware.ErrInvalidItem, "file"},
		{"empty source", func() (string, error) { return o.PushImage(ctx, wecom.IM, "a", "", "", "") }, middleware.ErrInvalidItem, "imageURL"},
		{"no items", func() (string, error) { return o.PushMixed(ctx, wecom.IM, "a", "", "", nil) }, middleware.ErrInvalidItem, "items"},
		{"nil context", func() (string, error) { return o.Push(nilContext, wecom.IM, "a", "", "", "x") }, nil, "nil context"},
		{"tim without target", func() (string, error) { return o.Push(ctx, timchat.IM, "", "", "", "x") }, middleware.ErrInvalidTarget, "Broadcast"},
	} {
		id, err := tc.do()
		require.Error(t, err, tc.name)
		assert.Empty(t, id, tc.name)
		if tc.want != nil {
			assert.ErrorIs(t, err, tc.want, tc.name)
		}
		assert.Contains(t, err.Error(), tc.text, tc.name)
		assert.Contains(t, err.Error(), "outbox: queue", tc.name)
	}
	dead, err := store.DeadLetters(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, dead)
	jobs, err := store.Claim(ctx, "w", 10)
	require.NoError(t, err)
	assert.Empty(t, jobs, "nothing was queued")
	assert.Zero(t, r.wc.Requests()+r.tim.Requests(), "nothing was sent")
}

// TestOutboxStatusAndWait follows one job from queued to sent.
func TestOutboxStatusAndWait(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	o, err := outbox.New(r.c)
	require.NoError(t, err)
	ctx := context.Background()
	id, err := o.Push(ctx, timchat.IM, "", "u1|u2", "Report", "done")
	require.NoError(t, err)
	s, err := o.Status(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, outbox.JobQueued, s.State)
	assert.NotZero(t, s.Key)
	_, err = o.Status(ctx, "no-such-id")
	assert.ErrorIs(t, err, outbox.ErrJobNotFound)

	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = o.Wait(short, id)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "nobody runs the outbox yet")

	run(t, o)
	s = waitAll(t, o, []string{id}, 5*time.Second)[0]
	assert.Equal(t, outbox.JobSent, s.State)
	assert.Equal(t, 2, s.Sent)
	assert.Equal(t, 1, s.Attempts)
	require.Len(t, r.tim.Messages(), 1)
	assert.Equal(t, []string{"u1", "u2"}, r.tim.Messages()[0].To)
}

// TestOutboxWeComMaybeDeliveredIsADeadLetter: a request whose answer is
// lost is never sent again by the Outbox; a person resends or drops it.
func TestOutboxWeComMaybeDeliveredIsADeadLetter(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	store := outbox.NewMemoryStore(0)
	o, err := outbox.New(r.c, outbox.WithStore(store))
	require.NoError(t, err)
	in, err := outbox.NewInspector(store)
	require.NoError(t, err)
	ctx := context.Background()
	r.wc.DropAfterRead(1)
	lost, err := o.Push(ctx, wecom.IM, "c", "", "", "first")
	require.NoError(t, err)
	next, err := o.Push(ctx, wecom.IM, "c", "", "", "second")
	require.NoError(t, err)
	run(t, o)
	st := waitAll(t, o, []string{lost, next}, 5*time.Second)
	assert.Equal(t, outbox.JobMaybeDelivered, st[0].State)
	assert.Equal(t, "maybe_delivered", st[0].LastErrorClass)
	assert.Equal(t, outbox.JobSent, st[1].State, "the lane goes on")
	assert.Equal(t, 2, r.wc.Requests(), "never sent twice by the Outbox")

	dead, err := in.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, lost, dead[0].ID)

	require.NoError(t, in.Resend(ctx, lost))
	s := waitAll(t, o, []string{lost}, 5*time.Second)[0]
	assert.Equal(t, outbox.JobSent, s.State)
	assert.Equal(t, 3, r.wc.Requests())
	assert.ErrorIs(t, in.Resend(ctx, lost), outbox.ErrNotDeadLetter, "no longer a dead letter")
	assert.ErrorIs(t, in.Drop(ctx, lost), outbox.ErrNotDeadLetter)
	assert.ErrorIs(t, in.Drop(ctx, "no-such-job"), outbox.ErrJobNotFound)
}

// TestOutboxDropsDeadLetters forgets a failed job for good.
func TestOutboxDropsDeadLetters(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	store := outbox.NewMemoryStore(0)
	o, err := outbox.New(r.c, outbox.WithStore(store))
	require.NoError(t, err)
	in, err := outbox.NewInspector(store)
	require.NoError(t, err)
	ctx := context.Background()
	r.wc.FailNext(1, 40008) // a permanent refusal: nothing delivered
	id, err := o.Push(ctx, wecom.IM, "c", "", "", "x")
	require.NoError(t, err)
	run(t, o)
	s := waitAll(t, o, []string{id}, 5*time.Second)[0]
	assert.Equal(t, outbox.JobFailed, s.State)
	assert.Equal(t, "invalid_item", s.LastErrorClass)
	assert.Contains(t, s.LastError, "40008")
	require.NoError(t, in.Drop(ctx, id))
	_, err = o.Status(ctx, id)
	assert.ErrorIs(t, err, outbox.ErrJobNotFound)
	dead, err := in.DeadLetters(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, dead)
}

// TestOutboxTIMResendsWithTheSameKey: TIM drops repeats, so a "maybe
// delivered" is tried again with the same dedup fields, and the user sees
// the message once.
func TestOutboxTIMResendsWithTheSameKey(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	o, err := outbox.New(r.c)
	require.NoError(t, err)
	ctx := context.Background()
	r.tim.DropAfterRead(3) // every attempt of the backend's own retries
	u, err := o.Push(ctx, timchat.IM, "", "u1", "", "to a user")
	require.NoError(t, err)
	run(t, o)
	s := waitAll(t, o, []string{u}, 10*time.Second)[0]
	assert.Equal(t, outbox.JobSent, s.State)
	assert.Equal(t, 2, s.Attempts, "one attempt lost its answer, the next was dropped as a repeat")
	assert.Len(t, r.tim.Messages(), 1, "the user sees it once")
	assert.Equal(t, 3, r.tim.Duplicates())
}

// TestOutboxRecoversAJobLeftSending plays a worker that died mid-request:
// WeCom's job becomes a dead letter, TIM's goes again under its key.
func TestOutboxRecoversAJobLeftSending(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	store := outbox.NewMemoryStore(0)
	ctx := context.Background()
	// The dead worker's Outbox queued them and marked them sending.
	dead, err := outbox.New(r.c, outbox.WithStore(store), outbox.WithWorkerName("dead"))
	require.NoError(t, err)
	w, err := dead.Push(ctx, wecom.IM, "c", "", "", "wecom job")
	require.NoError(t, err)
	tm, err := dead.Push(ctx, timchat.IM, "g1", "", "", "tim job")
	require.NoError(t, err)
	old, err := dead.Push(ctx, timchat.IM, "", "u9", "", "tim job past its window")
	require.NoError(t, err)
	jobs, err := store.Claim(ctx, "dead", 10)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	for _, j := range jobs {
		j.State, j.Attempts, j.FirstAttempt = outbox.JobSending, 1, time.Now()
		if j.ID == old {
			j.FirstAttempt = time.Now().Add(-timchat.C2CDedupWindow)
		}
	}
	require.NoError(t, store.Save(ctx, "dead", jobs))
	require.NoError(t, store.Release(ctx, "dead"))
	// The TIM group message had arrived before the worker died.
	_, err = r.c.Push(ctx, timchat.IM, "g1", "", "", "tim job", middleware.WithIdempotencyKey(jobs[1].Key))
	require.NoError(t, err)

	o, err := outbox.New(r.c, outbox.WithStore(store), outbox.WithWorkerName("next"))
	require.NoError(t, err)
	run(t, o)
	st := waitAll(t, o, []string{w, tm, old}, 5*time.Second)
	assert.Equal(t, outbox.JobMaybeDelivered, st[0].State, "WeCom: never resent")
	assert.Equal(t, outbox.JobSent, st[1].State, "TIM: resent under its key")
	assert.Equal(t, outbox.JobMaybeDelivered, st[2].State, "TIM past its dedup window: a repeat would show")
	assert.Zero(t, r.wc.Requests())
	assert.Len(t, r.tim.Messages(), 1, "TIM dropped the repeat")
	assert.Equal(t, 1, r.tim.Duplicates())
}

// TestOutboxOptionsAreChecked: every OutboxOption refuses what makes no
// sense.
func TestOutboxOptionsAreChecked(t *testing.T) {
	c, err := middleware.NewClient()
	require.NoError(t, err)
	for _, opt := range []outbox.Option{
		outbox.WithCoalesceAfter(-time.Second), outbox.WithSeparator(""), outbox.WithWorkers(0),
		outbox.WithPollInterval(0), outbox.WithMaxAttempts(0), outbox.WithWorkerName(""),
		outbox.WithStore(nil),
	} {
		_, err := outbox.New(c, opt)
		assert.ErrorIs(t, err, middleware.ErrInvalidOption)
	}
	_, err = outbox.New(nil)
	assert.ErrorIs(t, err, middleware.ErrInvalidOption)
	o, err := outbox.New(c)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	// The other Run runs on a cancelled context: should it come first, it
	// returns at once and is tried again, unless the first was refused
	// meanwhile.
	stopped, stop := context.WithCancel(context.Background())
	stop()
	for {
		select {
		case err := <-done:
			assert.True(t, err != nil && !errors.Is(err, context.Canceled), "a second Run at once is refused: %v", err)
			return
		default:
		}
		if err := o.Run(stopped); !errors.Is(err, context.Canceled) {
			assert.Error(t, err, "a second Run at once is refused")
			cancel()
			assert.ErrorIs(t, <-done, context.Canceled)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestOutboxRecoversAMergedBatch: a merged TIM message left sending is
// rebuilt from the same jobs, in the same order, under the first job's
// key, so TIM drops it if it had arrived; a merged WeCom one becomes dead
// letters, every job of it.
func TestOutboxRecoversAMergedBatch(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	store := outbox.NewMemoryStore(0)
	ctx := context.Background()
	dead, err := outbox.New(r.c, outbox.WithStore(store))
	require.NoError(t, err)
	for _, im := range []string{timchat.IM, wecom.IM} {
		for _, s := range []string{"a", "b", "c"} {
			_, err := dead.Push(ctx, im, "g1", "", "", im+" "+s)
			require.NoError(t, err)
		}
	}
	jobs, err := store.Claim(ctx, "dead", 10)
	require.NoError(t, err)
	require.Len(t, jobs, 6)
	for _, batch := range [][]*outbox.Job{jobs[:3], jobs[3:]} {
		ids := []string{batch[0].ID, batch[1].ID, batch[2].ID}
		for _, j := range batch {
			j.State, j.Attempts, j.FirstAttempt, j.Batch = outbox.JobSending, 1, time.Now(), ids
		}
		batch[0].Text = strings.Join([]string{"x a", "x b", "x c"}, "\n\n") // written ahead, as deliver does
	}
	jobs[0].Text = "tim a\n\ntim b\n\ntim c"
	require.NoError(t, store.Save(ctx, "dead", jobs))
	require.NoError(t, store.Release(ctx, "dead"))
	_, err = r.c.Push(ctx, timchat.IM, "g1", "", "", "tim a\n\ntim b\n\ntim c", middleware.WithIdempotencyKey(jobs[0].Key))
	require.NoError(t, err)

	o, err := outbox.New(r.c, outbox.WithStore(store))
	require.NoError(t, err)
	run(t, o)
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	st := waitAll(t, o, ids, 5*time.Second)
	for i, s := range st {
		want := outbox.JobSent
		if i >= 3 {
			want = outbox.JobMaybeDelivered
		}
		assert.Equal(t, want, s.State, "job %d", i)
	}
	assert.Len(t, r.tim.Messages(), 1)
	assert.Equal(t, 1, r.tim.Duplicates(), "the rebuilt message was the same one")
	assert.Zero(t, r.wc.Requests())
}

// TestOutboxRetriesWhatPasses: the platform's rate limit, which the push's
// own deadline cannot wait out, is waited out by the Outbox and tried
// again; it counts as an attempt, and nothing is sent twice.
func TestOutboxRetriesWhatPasses(t *testing.T) {
	r := newOutboxRig(t, 200*time.Millisecond, 20) // 45009 asks to wait one window
	o, err := outbox.New(r.c)
	require.NoError(t, err)
	r.wc.FailNext(1, 45009)
	id, err := o.Push(context.Background(), wecom.IM, "c", "", "", "after the limit", middleware.WithTimeout(100*time.Millisecond))
	require.NoError(t, err)
	run(t, o)
	s := waitAll(t, o, []string{id}, 5*time.Second)[0]
	assert.Equal(t, outbox.JobSent, s.State)
	assert.Equal(t, 2, s.Attempts)
	assert.Equal(t, 2, r.wc.Requests())
	assert.Len(t, r.wc.Messages(), 1)
}

// TestOutboxCountsOfflineTries: a job whose account stays offline is
// tried WithMaxAttempts times, each refused before sending, then fails
// with the reason; an account back online in time delivers it.
func TestOutboxCountsOfflineTries(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	o, err := outbox.New(r.c, outbox.WithMaxAttempts(3))
	require.NoError(t, err)
	ctx := context.Background()
	id, err := o.Push(ctx, wecom.IM, "c", "", "", "while offline")
	require.NoError(t, err)
	require.NoError(t, r.c.SetOnline("ops", false))
	run(t, o)
	// 1 s then 2 s of backoff between the three tries.
	s := waitAll(t, o, []string{id}, 10*time.Second)[0]
	assert.Equal(t, outbox.JobFailed, s.State)
	assert.Equal(t, "account_offline", s.LastErrorClass)
	assert.Equal(t, 3, s.Attempts)
	assert.Zero(t, r.wc.Requests(), "nothing was sent")
}

// TestOutboxNeverMergesWhatMayHaveLeft is finding 3 of the time-honesty
// issue: a TIM text left sending by a dead worker, with texts queued
// behind it, goes again alone under its key (TIM drops it if it had
// arrived) and the texts behind it go in messages of their own, so none
// is lost as a "repeat". The user sees each text once.
func TestOutboxNeverMergesWhatMayHaveLeft(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	store := outbox.NewMemoryStore(0)
	ctx := context.Background()
	dead, err := outbox.New(r.c, outbox.WithStore(store))
	require.NoError(t, err)
	var ids []string
	for _, s := range []string{"first", "second", "third"} {
		id, err := dead.Push(ctx, timchat.IM, "", "u1", "", s)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	jobs, err := store.Claim(ctx, "dead", 10)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	// The dead worker had sent "first" (it arrived) and died before
	// recording the answer.
	jobs[0].State, jobs[0].Attempts, jobs[0].FirstAttempt = outbox.JobSending, 1, time.Now()
	require.NoError(t, store.Save(ctx, "dead", jobs[:1]))
	require.NoError(t, store.Release(ctx, "dead"))
	_, err = r.c.Push(ctx, timchat.IM, "", "u1", "", "first", middleware.WithIdempotencyKey(jobs[0].Key))
	require.NoError(t, err)

	o, err := outbox.New(r.c, outbox.WithStore(store), outbox.WithCoalesceAfter(0))
	require.NoError(t, err)
	run(t, o)
	for i, s := range waitAll(t, o, ids, 5*time.Second) {
		assert.Equal(t, outbox.JobSent, s.State, "job %d", i)
	}
	var texts []string
	for _, m := range r.tim.Messages() {
		texts = append(texts, m.Elements[0].MsgContent.(*timchat.TextElem).Text)
	}
	assert.Equal(t, []string{"first", "second\n\nthird"}, texts, "each text once; the retry of the first went alone")
	assert.Equal(t, 1, r.tim.Duplicates(), "the retry was dropped as the repeat it was")
}

// TestOutboxOneJobPerKey is finding 5: two enqueues with the same
// WithIdempotencyKey are one job, sent once, never a message holding the
// text twice. On WeCom, which does not deduplicate, the key means nothing
// to the platform and keyed jobs merge like others; on TIM, where the key
// is the message's identity, they never merge.
func TestOutboxOneJobPerKey(t *testing.T) {
	r := newOutboxRig(t, time.Minute, 20)
	o, err := outbox.New(r.c, outbox.WithCoalesceAfter(0))
	require.NoError(t, err)
	ctx := context.Background()
	a, err := o.Push(ctx, wecom.IM, "c", "", "", "deploy v2 done", middleware.WithIdempotencyKey(42))
	require.NoError(t, err)
	b, err := o.Push(ctx, wecom.IM, "c", "", "", "deploy v2 done", middleware.WithIdempotencyKey(42))
	require.NoError(t, err)
	assert.Equal(t, a, b, "the second enqueue names the first job")
	c, err := o.Push(ctx, wecom.IM, "c", "", "", "other", middleware.WithIdempotencyKey(43))
	require.NoError(t, err)
	plain, err := o.Push(ctx, wecom.IM, "c", "", "", "plain")
	require.NoError(t, err)
	ta, err := o.Push(ctx, timchat.IM, "", "alice", "", "tim one", middleware.WithIdempotencyKey(44))
	require.NoError(t, err)
	tb, err := o.Push(ctx, timchat.IM, "", "alice", "", "tim two", middleware.WithIdempotencyKey(45))
	require.NoError(t, err)
	run(t, o)
	st := waitAll(t, o, []string{a, c, plain, ta, tb}, 5*time.Second)
	for _, s := range st {
		assert.Equal(t, outbox.JobSent, s.State)
	}
	var texts []string
	for _, m := range r.wc.Messages() {
		texts = append(texts, m.Content)
	}
	assert.Equal(t, []string{"deploy v2 done\n\nother\n\nplain"}, texts, "each text once; keyed jobs merge on WeCom")
	var timTexts []string
	for _, m := range r.tim.Messages() {
		timTexts = append(timTexts, m.Elements[0].MsgContent.(*timchat.TextElem).Text)
	}
	assert.Equal(t, []string{"tim one", "tim two"}, timTexts, "keyed jobs never merge on TIM")
	d, err := o.Push(ctx, wecom.IM, "c", "", "", "deploy v2 done", middleware.WithIdempotencyKey(42))
	require.NoError(t, err)
	assert.Equal(t, a, d, "a sent job still holds its key within the retention")
}

// TestOutboxResumesASplitText is finding 2 in the outbox: another sender
// spends the platform's budget part-way through a 5-part text (45009 at
// part 4, and the push may not wait). The job records the 3 parts that
// went and the next attempt sends parts 4 and 5 only: each part once.
// A text that can never fit a window is refused when queued.
func TestOutboxResumesASplitText(t *testing.T) {
	wc := imtest.NewWeCom(imtest.WithWeComRate(3), imtest.WithWeComWindow(500*time.Millisecond))
	t.Cleanup(wc.Close)
	bot, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithRateWindow(500*time.Millisecond))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))
	require.NoError(t, err)
	o, err := outbox.New(c)
	require.NoError(t, err)
	ctx := context.Background()
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "part %02d %s\n", i, strings.Repeat("x", 1990))
	}
	id, err := o.Push(ctx, wecom.IM, "", "", "", b.String(), middleware.WithTimeout(300*time.Millisecond))
	require.NoError(t, err)
	_, err = o.Push(ctx, wecom.IM, "", "", "", strings.Repeat("y", 2000*25))
	require.ErrorIs(t, err, middleware.ErrInvalidItem, "25 messages never fit a window of 20")
	run(t, o)
	s := waitAll(t, o, []string{id}, 10*time.Second)[0]
	assert.Equal(t, outbox.JobSent, s.State, s.LastError)
	assert.Equal(t, 3, s.Parts, "three went in the first attempt")
	var got []string
	for _, m := range wc.Messages() {
		got = append(got, m.Content[:7])
	}
	assert.Equal(t, []string{"part 00", "part 01", "part 02", "part 03", "part 04"}, got, "each part once, in order")
}
