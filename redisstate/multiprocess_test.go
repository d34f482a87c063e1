package redisstate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// childEnv names a child process's role; the test binary runs it from
// TestMain instead of the tests.
const childEnv = "REDISSTATE_CHILD"

// outcome is one push of a child, as it reports it on stdout.
type outcome struct {
	Delivered bool   `json:"delivered"`
	Refused   bool   `json:"refused"` // ErrRateLimited by the client, before sending
	Err       string `json:"err,omitempty"`
}

// runChild is a separate OS process with its own Client and the Redis
// limiter and media cache, as a replica of a service would be.
func runChild(role string) int {
	if strings.HasPrefix(role, "outbox") {
		return runOutboxChild(role)
	}
	if role == "chaos" {
		return runChaosWorker()
	}
	env := func(k string) string { return os.Getenv(k) }
	atoi := func(k string) int { n, _ := strconv.Atoi(env(k)); return n }
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{env("REDIS_ADDR")}})
	defer rdb.Close()
	// A generous bound on Redis calls: these tests are about sharing, and
	// a loaded CI machine must not make a child fall back to its own limiter.
	limits, err := NewLimiter(rdb, WithPrefix(env("PREFIX")), WithTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	media, err := NewMediaCache(rdb, WithPrefix(env("PREFIX")), WithTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	var backend middleware.Backend
	im := wecom.IM
	switch role {
	case "wecom-text", "wecom-file":
		window, _ := time.ParseDuration(env("WINDOW"))
		bot, err := wecom.New(env("WECOM_KEY"), wecom.WithBaseURL(env("WECOM_URL")), wecom.WithRateLimit(atoi("BUDGET")),
			wecom.WithRateWindow(window), wecom.WithLimiter(limits), wecom.WithRetry(1, 0),
			wecom.WithMediaCache(media))
		if err != nil {
			fmt.Println(err)
			return 2
		}
		backend = bot
	case "tim-broadcast":
		app, _ := strconv.ParseUint(env("TIM_APP"), 10, 64)
		tc, err := timchat.New(timchat.Config{SDKAppID: app, SecretKey: env("TIM_SECRET"), Admin: "administrator", BaseURL: env("TIM_URL")},
			timchat.WithLimiter(limits))
		if err != nil {
			fmt.Println(err)
			return 2
		}
		backend, im = tc, timchat.IM
	default:
		fmt.Println("unknown role", role)
		return 2
	}
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "bot", IM: im, Default: true, Backend: backend}))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	timeout, _ := time.ParseDuration(env("TIMEOUT"))
	for i := range atoi("PUSHES") {
		var n int
		var err error
		ctx := context.Background()
		switch role {
		case "wecom-text":
			n, err = c.Push(ctx, wecom.IM, "ops", "", "", fmt.Sprintf("alert %s/%d", env("CHILD"), i), middleware.WithTimeout(timeout))
		case "wecom-file":
			// A chat per process: the same file to the same chat from ten
			// processes at once is ten identical bodies in flight, which
			// WeCom refuses with 45033 (retried by default; the in-flight
			// guard is per process). What is measured here is the upload.
			n, err = c.PushFile(ctx, wecom.IM, "files-"+env("CHILD"), "", "", env("FILE"), middleware.WithTimeout(timeout))
		case "tim-broadcast":
			n, err = c.Push(ctx, timchat.IM, "", "", "", "broadcast "+env("CHILD"), timchat.Broadcast(nil), middleware.WithTimeout(timeout))
		}
		o := outcome{Delivered: err == nil && n == 1}
		var le *middleware.LimitError
		if errors.As(err, &le) {
			o.Refused = true
		} else if err != nil {
			o.Err = err.Error()
		}
		b, _ := json.Marshal(o)
		fmt.Println(string(b))
	}
	return 0
}

// children runs n child processes of role, all at once, and returns every
// outcome they report.
func children(t *testing.T, n int, role string, env map[string]string) []outcome {
	t.Helper()
	var mu sync.Mutex
	var all []outcome
	var wg sync.WaitGroup
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+role, "CHILD="+strconv.Itoa(i))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
				return
			}
			for _, l := range lines(out) {
				var o outcome
				if json.Unmarshal([]byte(l), &o) != nil {
					t.Errorf("child %d said %q", i, l)
					continue
				}
				all = append(all, o)
			}
		}()
	}
	wg.Wait()
	return all
}

// Ten processes offer twice the budget to one chat: the emulator, with the
// same budget, never answers 45009; every push is delivered or refused by
// the client before sending; and the budget is spent, not more.
func TestTenProcessesShareOneBudget(t *testing.T) {
	// Not parallel: ten processes each are load enough for 2 cores.
	const budget, procs, perProc = 50, 10, 10 // 100 offered: twice the budget
	// Every push of the run falls in one window, and a push over the
	// budget would wait for the next, past its 3 s deadline: refused.
	window := 20 * time.Second
	wc := imtest.NewWeCom(imtest.WithWeComRate(budget), imtest.WithWeComWindow(window))
	t.Cleanup(wc.Close)
	outs := children(t, procs, "wecom-text", map[string]string{
		"REDIS_ADDR": redisAddr(t), "PREFIX": prefix(t), "WECOM_URL": wc.URL, "WECOM_KEY": wc.Key,
		"BUDGET": strconv.Itoa(budget), "WINDOW": window.String(), "PUSHES": strconv.Itoa(perProc), "TIMEOUT": "3s",
	})
	require.Len(t, outs, procs*perProc)
	delivered, refused := 0, 0
	for _, o := range outs {
		switch {
		case o.Delivered:
			delivered++
		case o.Refused:
			refused++
		default:
			t.Errorf("a push neither delivered nor refused before sending: %s", o.Err)
		}
	}
	assert.Zero(t, wc.Answered(45009), "the emulator answered 45009")
	assert.Equal(t, delivered, len(wc.Messages()), "what the children count as delivered is what arrived: refused pushes were never sent")
	assert.InDelta(t, budget, delivered, budget*0.05, "delivered %d of a budget of %d", delivered, budget)
	assert.Equal(t, procs*perProc, delivered+refused)
	t.Logf("%d processes offered %d pushes: %d delivered, %d refused by the client, %d 45009 at the emulator",
		procs, procs*perProc, delivered, refused, wc.Answered(45009))
}

// Ten processes push the same new 5 MB file at once: it is uploaded once.
func TestTenProcessesUploadOnce(t *testing.T) {
	// Not parallel: ten processes each are load enough for 2 cores.
	const procs = 10
	data := make([]byte, 5<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(t.TempDir(), fmt.Sprintf("report-%x.bin", sum[:4]))
	require.NoError(t, os.WriteFile(path, data, 0o600))
	wc := imtest.NewWeCom()
	t.Cleanup(wc.Close)
	outs := children(t, procs, "wecom-file", map[string]string{
		"REDIS_ADDR": redisAddr(t), "PREFIX": prefix(t), "WECOM_URL": wc.URL, "WECOM_KEY": wc.Key,
		"BUDGET": "100", "WINDOW": "1m", "PUSHES": "1", "TIMEOUT": "30s", "FILE": path,
	})
	require.Len(t, outs, procs)
	for _, o := range outs {
		assert.True(t, o.Delivered, "push failed: %s", o.Err)
	}
	assert.Equal(t, 1, wc.Uploads(), "uploads of the same new file")
	msgs := wc.Messages()
	require.Equal(t, procs, len(msgs))
	for i, m := range msgs {
		assert.True(t, bytes.Equal(data, m.File), "message %d carries another file (%d bytes)", i, len(m.File))
	}
}

// Ten processes broadcast through one TIM app: the pushes reach the
// emulator more than a second apart, and none is refused with 90024.
func TestTenProcessesSpaceBroadcasts(t *testing.T) {
	// Not parallel: ten processes each are load enough for 2 cores.
	const procs = 10
	tim := imtest.NewTIM()
	t.Cleanup(tim.Close)
	outs := children(t, procs, "tim-broadcast", map[string]string{
		"REDIS_ADDR": redisAddr(t), "PREFIX": prefix(t), "TIM_URL": tim.URL,
		"TIM_APP": strconv.FormatUint(tim.SDKAppID, 10), "TIM_SECRET": tim.SecretKey, "PUSHES": "1", "TIMEOUT": "30s",
	})
	require.Len(t, outs, procs)
	for _, o := range outs {
		assert.True(t, o.Delivered, "broadcast failed: %s", o.Err)
	}
	assert.Zero(t, tim.Answered(90024))
	msgs := tim.Messages()
	require.Len(t, msgs, procs)
	at := make([]time.Time, len(msgs))
	for i, m := range msgs {
		at[i] = m.At
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	for i := 1; i < len(at); i++ {
		assert.Greater(t, at[i].Sub(at[i-1]), time.Second, "broadcasts %d and %d", i-1, i)
	}
}
