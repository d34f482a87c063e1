package redisstate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/testkit"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// runChaosWorker is one replica of TestOutboxChaos: it only delivers, on
// the Redis of REDIS_ADDR (the test's proxy), until killed.
func runChaosWorker() int {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{os.Getenv("REDIS_ADDR")}, MaxRetries: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond})
	defer rdb.Close()
	logs := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := outboxClient(os.Getenv, middleware.WithLogger(logs))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	store, err := NewOutboxStore(ctx, rdb, WithPrefix(os.Getenv("PREFIX")), WithClaimTimeout(time.Second), WithShards(4))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	o, err := outbox.New(c, outbox.WithStore(store), outbox.WithCoalesceAfter(100*time.Millisecond),
		outbox.WithPollInterval(50*time.Millisecond), outbox.WithWorkerName(os.Getenv("WORKER")), outbox.WithLogger(logs))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	_ = o.Run(ctx) // until killed
	return 0
}

// TestOutboxChaos is the proof of the time-honesty issue, with OS
// processes on a real redis-server: three workers deliver 240 WeCom texts
// (every tenth a text of three messages) to three chats and 240 TIM texts
// to a group and a user, merged when they wait. A WeCom stand-in answers
// 20 ms after it counts a message, the TIM one 10 ms after and drops
// repeats of the same dedup fields. Meanwhile: a worker is SIGKILLed, one
// is stopped (SIGSTOP) past the claim timeout, loses its leases and comes
// back with what it held, Redis is cut off for three seconds, and another
// worker is SIGKILLed. Then: every TIM text arrived exactly once and its
// job is sent; every WeCom text and every part at most once, and a job is
// sent only if all of it arrived, else it is a maybe-delivered dead
// letter; none failed; no 45009.
func TestOutboxChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test takes about fifteen seconds")
	}
	const n = 240
	ctx := context.Background()
	wc := imtest.NewWeCom(imtest.WithWeComRate(40), imtest.WithWeComWindow(time.Second))
	defer wc.Close()
	wc.AnswerLatency(20 * time.Millisecond)
	tim := imtest.NewTIM()
	defer tim.Close()
	tim.AnswerLatency(10 * time.Millisecond)
	proxy := newCutProxy(t, redisAddr(t))
	env := map[string]string{
		"REDIS_ADDR": proxy.addr, "PREFIX": prefix(t), "WECOM_KEY": wc.WebhookURL(), "WECOM_URL": wc.URL, "BUDGET": "40",
		"WINDOW": "1s", "TIM_APP": strconv.FormatUint(tim.SDKAppID, 10), "TIM_SECRET": tim.SecretKey, "TIM_URL": tim.URL,
	}

	// A flood queued over nine seconds, from the test, straight to Redis.
	c, err := outboxClient(envMap(env).get)
	require.NoError(t, err)
	store, err := NewOutboxStore(ctx, client(t), WithPrefix(env["PREFIX"]), WithShards(4))
	require.NoError(t, err)
	q, err := outbox.New(c, outbox.WithStore(store))
	require.NoError(t, err)
	type job struct{ id, im, text string }
	var jobs []job
	produced := make(chan error, 1)
	go func() {
		defer close(produced)
		tick := time.NewTicker(9 * time.Second / n)
		defer tick.Stop()
		for i := range n {
			<-tick.C
			text := fmt.Sprintf("wecom %03d", i)
			if i%10 == 0 {
				for p := range 3 {
					text += fmt.Sprintf("\nwecom %03d part %d %s", i, p, strings.Repeat("x", 1990))
				}
			}
			id, err := q.Push(ctx, wecom.IM, fmt.Sprintf("chat-%d", i%3), "", "", text)
			if err != nil {
				produced <- err
				return
			}
			jobs = append(jobs, job{id, wecom.IM, text})
			group, user := "@TGS#ops", ""
			if i%3 == 0 {
				group, user = "", "u1"
			}
			id, err = q.Push(ctx, timchat.IM, group, user, "", fmt.Sprintf("tim %03d", i))
			if err != nil {
				produced <- err
				return
			}
			jobs = append(jobs, job{id, timchat.IM, fmt.Sprintf("tim %03d", i)})
		}
	}()

	workers := map[string]*exec.Cmd{}
	var logs testkit.SyncBuffer // the workers' stderr: shown if the test fails
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	start := func(name string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=chaos", "WORKER="+name)
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout, cmd.Stderr = &logs, &logs
		require.NoError(t, cmd.Start())
		workers[name] = cmd
	}
	defer func() {
		for _, w := range workers {
			_ = w.Process.Signal(syscall.SIGCONT)
			_ = w.Process.Kill()
			_ = w.Wait()
		}
	}()
	kill := func(name string) {
		require.NoError(t, workers[name].Process.Signal(syscall.SIGKILL))
		_ = workers[name].Wait()
		delete(workers, name)
	}
	for _, name := range []string{"a", "b", "c"} {
		start(name)
	}
	time.Sleep(time.Second)
	kill("a") // mid-delivery, between whatever it was doing
	start("a2")
	time.Sleep(time.Second)
	require.NoError(t, workers["b"].Process.Signal(syscall.SIGSTOP)) // a partition past the claim timeout
	time.Sleep(2500 * time.Millisecond)
	require.NoError(t, workers["b"].Process.Signal(syscall.SIGCONT)) // back, with what it held
	time.Sleep(500 * time.Millisecond)
	proxy.cut() // Redis gone for longer than the workers' retries
	time.Sleep(3 * time.Second)
	proxy.mend(t)
	time.Sleep(500 * time.Millisecond)
	kill("c")
	start("c2")
	require.NoError(t, <-produced, "queueing")
	require.Len(t, jobs, 2*n)

	states := map[string]outbox.JobStatus{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending := 0
		for _, j := range jobs {
			s, err := q.Status(ctx, j.id)
			require.NoError(t, err, "job %s is lost", j.id)
			states[j.id] = s
			if !s.State.Final() {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d jobs never finish", pending)
		time.Sleep(200 * time.Millisecond)
	}

	seen := map[string]int{}
	for _, m := range wc.Messages() {
		for _, line := range strings.Split(m.Content, "\n") {
			if line != "" {
				seen[strings.TrimRight(line, "x ")]++
			}
		}
	}
	for _, m := range tim.Messages() {
		for _, e := range m.Elements {
			if te, ok := e.MsgContent.(*timchat.TextElem); ok {
				for _, line := range strings.Split(te.Text, "\n") {
					if line != "" {
						seen[line]++
					}
				}
			}
		}
	}
	count := map[string]int{}
	maybeNeverArrived := 0
	for _, j := range jobs {
		s := states[j.id]
		count[j.im+" "+string(s.State)]++
		var lines []string
		for _, l := range strings.Split(j.text, "\n") {
			lines = append(lines, strings.TrimRight(l, "x "))
		}
		if j.im == timchat.IM {
			assert.Equal(t, 1, seen[j.text], "%s arrives exactly once", j.text)
			assert.Equal(t, outbox.JobSent, s.State, "%s: %s", j.text, s.LastError)
			continue
		}
		all := true
		for _, l := range lines {
			assert.LessOrEqual(t, seen[l], 1, "%q arrives at most once", l)
			all = all && seen[l] == 1
		}
		switch s.State {
		case outbox.JobSent:
			assert.True(t, all, "%s is sent, and all of it arrived", lines[0])
		case outbox.JobMaybeDelivered:
			if seen[lines[0]] == 0 {
				maybeNeverArrived++
			}
		default:
			t.Errorf("%s ended %s: %s", lines[0], s.State, s.LastError)
		}
	}
	assert.Zero(t, wc.Answered(45009), "the platform refused for the rate")
	t.Logf("outcome %v; %d WeCom and %d TIM messages; TIM dropped %d repeats; %d maybe-delivered WeCom jobs had not arrived",
		count, len(wc.Messages()), len(tim.Messages()), tim.Duplicates(), maybeNeverArrived)
}
