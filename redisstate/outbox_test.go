package redisstate

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/outbox/outboxtest"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// outboxClient is a Client with one WeCom and one TIM account, as the
// environment of a child (or the test) names them.
func outboxClient(env func(string) string, opts ...middleware.ClientOption) (*middleware.Client, error) {
	window, _ := time.ParseDuration(env("WINDOW"))
	budget, _ := strconv.Atoi(env("BUDGET"))
	wb, err := wecom.New(env("WECOM_KEY"), wecom.WithBaseURL(env("WECOM_URL")), wecom.WithRateLimit(budget), wecom.WithRateWindow(window))
	if err != nil {
		return nil, err
	}
	app, _ := strconv.ParseUint(env("TIM_APP"), 10, 64)
	tb, err := timchat.New(timchat.Config{SDKAppID: app, SecretKey: env("TIM_SECRET"), Admin: "administrator", BaseURL: env("TIM_URL")})
	if err != nil {
		return nil, err
	}
	return middleware.NewClient(append(opts,
		middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: wb}),
		middleware.WithAccount(middleware.Account{ID: "app", IM: timchat.IM, Default: true, Backend: tb}))...)
}

// queued is one job a child queued, as it reports it on stdout.
type queued struct {
	ID   string `json:"id"`
	IM   string `json:"im"`
	Text string `json:"text"`
}

// runOutboxChild is a replica with an Outbox on Redis: "outbox-first"
// queues PUSHES texts to each platform, says "queued", then delivers until
// killed; "outbox-second" only delivers.
func runOutboxChild(role string) int {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{os.Getenv("REDIS_ADDR")}})
	defer rdb.Close()
	// Failures go to stderr, which the test shows.
	c, err := outboxClient(os.Getenv, middleware.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	claim, _ := time.ParseDuration(os.Getenv("CLAIM"))
	store, err := NewOutboxStore(ctx, rdb, WithPrefix(os.Getenv("PREFIX")), WithClaimTimeout(claim))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	// One message per push: the test counts requests in flight at the
	// kill (merging is proved by the flood tests).
	o, err := outbox.New(c, outbox.WithStore(store), outbox.WithoutCoalescing(),
		outbox.WithWorkerName(role+"-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	if role == "outbox-first" {
		out := bufio.NewWriter(os.Stdout)
		n, _ := strconv.Atoi(os.Getenv("PUSHES"))
		targets := map[string]string{wecom.IM: "ops-chat", timchat.IM: "ops-group"}
		for i := range n {
			for _, q := range []queued{{IM: wecom.IM, Text: fmt.Sprintf("wecom %03d", i)}, {IM: timchat.IM, Text: fmt.Sprintf("tim %03d", i)}} {
				id, err := o.Push(ctx, q.IM, targets[q.IM], "", "", q.Text)
				if err != nil {
					fmt.Println(err)
					return 2
				}
				q.ID = id
				b, _ := json.Marshal(q)
				fmt.Fprintln(out, string(b))
			}
		}
		fmt.Fprintln(out, "queued")
		out.Flush()
	}
	_ = o.Run(ctx) // until killed
	return 0
}

// TestOutboxSurvivesSIGKILL is the crash test: a process queues 500
// pushes to a WeCom chat and 500 to a TIM group and is killed with SIGKILL
// mid-delivery; a second process takes over. TIM: every push arrives
// exactly once. WeCom: every push arrives at most once, and each that did
// not is a "maybe delivered" dead letter or still queued. None is lost.
func TestOutboxSurvivesSIGKILL(t *testing.T) {
	const pushes = 500
	wc := imtest.NewWeCom(imtest.WithWeComRate(40), imtest.WithWeComWindow(time.Second))
	defer wc.Close()
	// Messages are delivered at once and answered later: the kill lands
	// between the two for the request in flight.
	wc.AnswerLatency(15 * time.Millisecond)
	tim := imtest.NewTIM()
	defer tim.Close()
	tim.AnswerLatency(5 * time.Millisecond)
	env := map[string]string{
		"REDIS_ADDR": redisAddr(t), "PREFIX": prefix(t), "PUSHES": strconv.Itoa(pushes), "CLAIM": "1s",
		"WECOM_KEY": wc.WebhookURL(), "WECOM_URL": wc.URL, "BUDGET": "40", "WINDOW": "1s",
		"TIM_APP": strconv.FormatUint(tim.SDKAppID, 10), "TIM_SECRET": tim.SecretKey, "TIM_URL": tim.URL,
	}
	start := func(role string) (*exec.Cmd, *bufio.Scanner) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+role)
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		return cmd, bufio.NewScanner(stdout)
	}

	first, lines := start("outbox-first")
	var jobs []queued
	for lines.Scan() && lines.Text() != "queued" {
		var q queued
		require.NoError(t, json.Unmarshal(lines.Bytes(), &q), "child said %q", lines.Text())
		jobs = append(jobs, q)
	}
	require.Len(t, jobs, 2*pushes)
	// Kill it mid-delivery, without warning.
	deadline := time.Now().Add(30 * time.Second)
	for len(tim.Messages()) < pushes/5 || len(wc.Messages()) < pushes/10 {
		require.True(t, time.Now().Before(deadline), "the first process delivers too little: %d WeCom requests, %d TIM (%d messages)", wc.Requests(), tim.Requests(), len(tim.Messages()))
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	atKill := [2]int{len(wc.Messages()), len(tim.Messages())}
	require.Less(t, atKill[0], pushes, "the kill came after WeCom's last push")
	require.Less(t, atKill[1], pushes, "the kill came after TIM's last push")

	second, _ := start("outbox-second")
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	store, err := NewOutboxStore(context.Background(), client(t), WithPrefix(env["PREFIX"]))
	require.NoError(t, err)
	states := map[string]outbox.JobState{}
	for {
		pending := 0
		for _, q := range jobs {
			j, err := store.Job(context.Background(), q.ID)
			require.NoError(t, err, "job %s is lost", q.ID)
			states[q.ID] = j.State
			if !j.State.Final() {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline.Add(30*time.Second)), "%d jobs never finish", pending)
		time.Sleep(100 * time.Millisecond)
	}

	seen := map[string]int{}
	for _, m := range wc.Messages() {
		for _, line := range strings.Split(m.Content, "\n") {
			seen[line]++
		}
	}
	for _, m := range tim.Messages() {
		for _, e := range m.Elements {
			if te, ok := e.MsgContent.(*timchat.TextElem); ok {
				seen[te.Text]++
			}
		}
	}
	count := map[string]int{}
	for _, q := range jobs {
		st := states[q.ID]
		count[q.IM+" "+string(st)]++
		switch q.IM {
		case timchat.IM:
			assert.Equal(t, 1, seen[q.Text], "%s arrives exactly once", q.Text)
			assert.Equal(t, outbox.JobSent, st, q.Text)
		case wecom.IM:
			assert.LessOrEqual(t, seen[q.Text], 1, "%s arrives at most once", q.Text)
			if seen[q.Text] == 0 {
				assert.Contains(t, []outbox.JobState{outbox.JobMaybeDelivered, outbox.JobQueued}, st, "%s is not lost", q.Text)
			}
			if st == outbox.JobSent {
				assert.Equal(t, 1, seen[q.Text], q.Text)
			}
		}
	}
	assert.Zero(t, wc.Answered(45009))
	dead, err := store.DeadLetters(context.Background(), 2*pushes)
	require.NoError(t, err)
	for _, d := range dead {
		assert.Equal(t, outbox.JobMaybeDelivered, d.State)
	}
	t.Logf("at the kill: %d WeCom and %d TIM messages; outcome %v; TIM dropped %d repeats; %d WeCom messages in all",
		atKill[0], atKill[1], count, tim.Duplicates(), len(wc.Messages()))
}

// TestOutboxFloodOnRedis is the flood test of the root package on the
// Redis store: 300 texts to one chat under 20 per window, none refused by
// the platform, all in order, merged.
func TestOutboxFloodOnRedis(t *testing.T) {
	const window, budget, total = time.Second, 20, 300
	wc := imtest.NewWeCom(imtest.WithWeComRate(budget), imtest.WithWeComWindow(window))
	defer wc.Close()
	c, err := outboxClient(envMap{"WECOM_KEY": wc.WebhookURL(), "WECOM_URL": wc.URL, "BUDGET": strconv.Itoa(budget),
		"WINDOW": window.String(), "TIM_APP": "1400000000", "TIM_SECRET": "s", "TIM_URL": "http://127.0.0.1:1"}.get)
	require.NoError(t, err)
	ctx := context.Background()
	store, err := NewOutboxStore(ctx, client(t), WithPrefix(prefix(t)))
	require.NoError(t, err)
	o, err := outbox.New(c, outbox.WithStore(store), outbox.WithCoalesceAfter(50*time.Millisecond),
		outbox.WithSeparator("\n"))
	require.NoError(t, err)
	var ids, texts []string
	for i := range total {
		text := fmt.Sprintf("alert %03d", i)
		id, err := o.Push(ctx, wecom.IM, "chat-1", "", "", text)
		require.NoError(t, err)
		ids, texts = append(ids, id), append(texts, text)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	for _, id := range ids {
		s, err := o.Wait(wctx, id)
		require.NoError(t, err)
		require.Equal(t, outbox.JobSent, s.State, s.LastError)
	}
	var got []string
	for _, m := range wc.Messages() {
		got = append(got, strings.Split(m.Content, "\n")...)
	}
	assert.Equal(t, texts, got)
	assert.Zero(t, wc.Answered(45009))
	assert.Less(t, len(wc.Messages()), total/4)
}

type envMap map[string]string

func (e envMap) get(k string) string { return e[k] }

// TestOutboxStoreFencesAStaleWorker: once a worker's claim runs out and
// another takes the lane, the first writes nothing more, and the second
// gets the jobs the first left pending.
func TestOutboxStoreFencesAStaleWorker(t *testing.T) {
	ctx := context.Background()
	s, err := NewOutboxStore(ctx, client(t), WithPrefix(prefix(t)), WithShards(1), WithClaimTimeout(200*time.Millisecond))
	require.NoError(t, err)
	add := func(id string) {
		require.NoError(t, s.Add(ctx, &outbox.Job{JobStatus: outbox.JobStatus{ID: id, State: outbox.JobQueued}, Lane: "l", Spec: []byte(`{}`)}))
	}
	add("j1")
	add("j2")
	a, err := s.Claim(ctx, "a", 10)
	require.NoError(t, err)
	require.Len(t, a, 2)
	b, err := s.Claim(ctx, "b", 10)
	require.NoError(t, err)
	assert.Empty(t, b, "a holds the shard")

	a[0].State = outbox.JobSending
	require.NoError(t, s.Save(ctx, "a", a[:1]))
	time.Sleep(300 * time.Millisecond) // a stops renewing: it "crashed"
	b, err = s.Claim(ctx, "b", 10)
	require.NoError(t, err)
	require.Len(t, b, 2, "b takes what a left pending")
	assert.Equal(t, outbox.JobSending, b[0].State, "with what a wrote")
	assert.Equal(t, "j1", b[0].ID)

	a[1].State = outbox.JobSent
	assert.ErrorIs(t, s.Save(ctx, "a", a[1:]), outbox.ErrClaimLost)
	j, err := s.Job(ctx, "j2")
	require.NoError(t, err)
	assert.Equal(t, outbox.JobQueued, j.State, "the stale write did not land")

	// Dead letters: listed, requeued once, dropped once.
	b[0].State, b[1].State = outbox.JobMaybeDelivered, outbox.JobSent
	require.NoError(t, s.Save(ctx, "b", b))
	dead, err := s.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, "j1", dead[0].ID)
	dead[0].State = outbox.JobQueued
	require.NoError(t, s.Requeue(ctx, dead[0]))
	assert.ErrorIs(t, s.Requeue(ctx, dead[0]), outbox.ErrJobNotFound)
	again, err := s.Claim(ctx, "b", 10)
	require.NoError(t, err)
	require.Len(t, again, 1)
	again[0].State = outbox.JobFailed
	require.NoError(t, s.Save(ctx, "b", again))
	require.NoError(t, s.Drop(ctx, "j1"))
	assert.ErrorIs(t, s.Drop(ctx, "j1"), outbox.ErrJobNotFound)
	_, err = s.Job(ctx, "j1")
	assert.ErrorIs(t, err, outbox.ErrJobNotFound)
	require.NoError(t, s.Release(ctx, "b"))
	c, err := s.Claim(ctx, "c", 10)
	require.NoError(t, err)
	assert.Empty(t, c, "nothing left")
}

// TestOutboxStoreReleaseHandsOverAtOnce: a worker that stops cleanly gives
// its leases back, and the next worker takes its pending jobs without
// waiting for the claim timeout.
func TestOutboxStoreReleaseHandsOverAtOnce(t *testing.T) {
	ctx := context.Background()
	s, err := NewOutboxStore(ctx, client(t), WithPrefix(prefix(t)), WithShards(1), WithClaimTimeout(time.Hour))
	require.NoError(t, err)
	require.NoError(t, s.Add(ctx, &outbox.Job{JobStatus: outbox.JobStatus{ID: "j1", State: outbox.JobQueued}, Lane: "l", Spec: []byte(`{}`)}))
	a, err := s.Claim(ctx, "a", 10)
	require.NoError(t, err)
	require.Len(t, a, 1)
	b, err := s.Claim(ctx, "b", 10)
	require.NoError(t, err)
	require.Empty(t, b, "a holds the shard for an hour")
	require.NoError(t, s.Release(ctx, "a"))
	b, err = s.Claim(ctx, "b", 10)
	require.NoError(t, err)
	require.Len(t, b, 1, "b takes a's pending job at once")
	assert.Equal(t, "j1", b[0].ID)
	a[0].State = outbox.JobSent
	assert.ErrorIs(t, s.Save(ctx, "a", a), outbox.ErrClaimLost, "a has let go")
}

// TestOutboxStoreConforms runs the outbox.Store suite on a real Redis,
// with one shard and four, and claims that lapse.
func TestOutboxStoreConforms(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			outboxtest.Run(t, outboxtest.Harness{
				NewStore: func(t *testing.T) outbox.Store {
					s, err := NewOutboxStore(context.Background(), client(t), WithPrefix(prefix(t)), WithShards(shards), WithClaimTimeout(timeout))
					require.NoError(t, err)
					return s
				},
				ClaimTimeout: timeout,
			})
		})
	}
}

// TestOutboxStoreSharesLeases is finding 6 of the time-honesty issue: one
// worker no longer keeps every shard. With W live workers each holds at
// most ceil(S/W) leases; one that holds more while idle gives the extras
// back when the others show up.
func TestOutboxStoreSharesLeases(t *testing.T) {
	ctx := context.Background()
	s, err := NewOutboxStore(ctx, client(t), WithPrefix(prefix(t)), WithShards(16), WithClaimTimeout(time.Minute))
	require.NoError(t, err)
	held := func(worker string) int {
		ls, _, err := s.leases(ctx, worker)
		require.NoError(t, err)
		n := 0
		for _, l := range ls {
			if l.status == leaseRenewed || l.status == leaseTaken {
				n++
			}
		}
		return n
	}
	_, err = s.Claim(ctx, "w0", 100)
	require.NoError(t, err)
	assert.Equal(t, 16, held("w0"), "alone, a worker takes every shard")
	for _, w := range []string{"w1", "w2", "w3"} {
		_, err := s.Claim(ctx, w, 100)
		require.NoError(t, err)
	}
	_, err = s.Claim(ctx, "w0", 100) // sees four workers: gives back what it holds idle beyond 4
	require.NoError(t, err)
	for _, w := range []string{"w1", "w2", "w3"} {
		_, err := s.Claim(ctx, w, 100)
		require.NoError(t, err)
	}
	total := 0
	for _, w := range []string{"w0", "w1", "w2", "w3"} {
		n := held(w)
		assert.Equal(t, 4, n, "%s holds its share, ceil(16/4)", w)
		total += n
	}
	assert.Equal(t, 16, total)
}

// cutProxy forwards TCP to a Redis until cut: then it drops every
// connection and refuses new ones, as a Redis that went away does, until
// mended.
type cutProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	p := &cutProxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, r)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(r, c); r.Close() }()
			go func() { _, _ = io.Copy(c, r); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) mend(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

// TestOutboxResumesWithinAPollAfterAnOutage is finding 7: after Redis
// comes back, a lane goes on at its next turn, with what it was doing,
// not a claim timeout later. The claims here last an hour, so a lane that
// waited for one would not finish before the test's deadline. Nothing is
// sent twice and nothing is lost: every text arrives once, every job ends
// sent.
func TestOutboxResumesWithinAPollAfterAnOutage(t *testing.T) {
	ctx := context.Background()
	proxy := newCutProxy(t, redisAddr(t))
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{proxy.addr}, MaxRetries: -1,
		DialTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	store, err := NewOutboxStore(ctx, rdb, WithPrefix(prefix(t)), WithShards(2), WithClaimTimeout(time.Hour))
	require.NoError(t, err)
	const window, budget, total = 300 * time.Millisecond, 4, 24
	wc := imtest.NewWeCom(imtest.WithWeComRate(budget), imtest.WithWeComWindow(window))
	defer wc.Close()
	bot, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(budget), wecom.WithRateWindow(window))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))
	require.NoError(t, err)
	o, err := outbox.New(c, outbox.WithStore(store), outbox.WithPollInterval(50*time.Millisecond), outbox.WithoutCoalescing())
	require.NoError(t, err)
	var ids []string
	for i := range total {
		id, err := o.Push(ctx, wecom.IM, "chat", "", "", fmt.Sprintf("text %02d", i))
		require.NoError(t, err)
		ids = append(ids, id)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Run(runCtx) }()
	defer func() { stop(); <-done }()

	for len(wc.Messages()) < budget { // under way: the budget's first window went out
		time.Sleep(10 * time.Millisecond)
	}
	proxy.cut()
	time.Sleep(time.Second) // Redis is gone for a second: every save and claim fails
	proxy.mend(t)

	// Status reads go through a client of their own, straight to Redis.
	direct, err := NewOutboxStore(ctx, client(t), WithPrefix(store.cfg.prefix), WithShards(2))
	require.NoError(t, err)
	watcher, err := outbox.New(c, outbox.WithStore(direct))
	require.NoError(t, err)
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for _, id := range ids {
		s, err := watcher.Wait(wait, id)
		require.NoError(t, err, "job %s still %s: the lane did not resume", id, s.State)
		require.Equal(t, outbox.JobSent, s.State, s.LastError)
	}
	var texts []string
	for _, m := range wc.Messages() {
		texts = append(texts, m.Content)
	}
	require.Len(t, texts, total, "each text once: %v", texts)
	for i, tx := range texts {
		assert.Equal(t, fmt.Sprintf("text %02d", i), tx, "in order")
	}
}

// TestIdleClaimRoundTrips: a worker holding every shard, with nothing to
// deliver, costs one round trip for its leases and one read per shard at
// each poll; the search for entries a stale owner left runs twice per
// claim timeout, not at every poll.
func TestIdleClaimRoundTrips(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr(t)})
	defer rdb.Close()
	var cc commandCounter
	rdb.AddHook(&cc)
	const shards = 4
	s, err := NewOutboxStore(ctx, rdb, WithPrefix(prefix(t)), WithShards(shards), WithClaimTimeout(time.Hour))
	require.NoError(t, err)
	_, err = s.Claim(ctx, "w", 100) // takes every lease, and looks for what others left
	require.NoError(t, err)
	cc.n.Store(0)
	const polls = 5
	for range polls {
		_, err := s.Claim(ctx, "w", 100)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(polls*(1+shards)), cc.n.Load(), "the lease script and one XREADGROUP per shard, each poll")
}
