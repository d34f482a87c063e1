package gateway

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware/internal/testkit"
	"github.com/imbridge/middleware/redisstate"
)

// ownRedis is a redis-server of this test's own, to stop.
func ownRedis(t *testing.T) *testkit.RedisServer {
	t.Helper()
	s, err := testkit.StartRedis()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot start redis-server in CI: %v", err)
		}
		t.Skipf("%v; %s", err, testkit.RedisHowTo)
	}
	t.Cleanup(s.Stop)
	return s
}

// redisOptions are a gateway's shared state on rdb, under its own prefix.
func redisOptions(t *testing.T, rdb redis.UniversalClient, prefix string) []Option {
	t.Helper()
	p := redisstate.WithPrefix(prefix)
	store, err := redisstate.NewOutboxStore(context.Background(), rdb, p, redisstate.WithClaimTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	marks, _ := redisstate.NewMarks(rdb, p)
	journal, _ := redisstate.NewJournal(rdb, p)
	limiter, _ := redisstate.NewLimiter(rdb, p)
	return []Option{WithStore(store), WithMarks(marks), WithJournal(journal), WithLimiter(limiter),
		WithReadiness(func(ctx context.Context) error { return rdb.Ping(ctx).Err() })}
}

// When the real Redis stops, a new notification is answered 503 (the
// sender retries), not 200 for a job that is nowhere; /readyz and
// /history say so too.
func TestRedisStoppedIs503(t *testing.T) {
	t.Parallel()
	s := ownRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	// Stopping with Redis down, the drain cannot see the jobs' states: it
	// waits its shutdown_timeout, shortened here.
	cfg := strings.Replace(baseConfig, "timezone:", "shutdown_timeout: 1s\ntimezone:", 1)
	h := start(t, cfg, nil, redisOptions(t, rdb, "down")...)
	if code, b := h.post("/alertmanager/ops", mustJSON(t, notification("Before", []string{"a"}, nil))); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	h.wecomMessages(1)
	if code, _ := h.get("/readyz"); code != 200 {
		t.Fatalf("readyz %d with Redis up", code)
	}
	s.Stop()
	code, b := h.post("/alertmanager/ops", mustJSON(t, notification("After", []string{"a"}, nil)))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("with Redis stopped: %d %s", code, b)
	}
	if code, _ := h.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d with Redis stopped", code)
	}
	if code, _ := h.get("/history/ops"); code != http.StatusServiceUnavailable {
		t.Fatalf("history %d with Redis stopped", code)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(h.wc.Messages()); n != 1 {
		t.Fatalf("%d messages: the one refused must not have been sent", n)
	}
}

// Two gateways on one Redis, each sent the same notification at the same
// moment by 8 callers (Alertmanager's peers and retries): it reaches the
// chat once, and both histories (shared) show one queued and the copies.
func TestReplicasShareDedup(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: testkit.Redis(t)})
	t.Cleanup(func() { rdb.Close() })
	prefix := "share-" + randomHex(4)
	a := start(t, baseConfig, nil, redisOptions(t, rdb, prefix)...)
	// The second replica delivers to the first's emulator: one chat.
	cfg := strings.ReplaceAll(baseConfig, "ACCOUNTS\n", accountLines(a.wc, a.tim))
	b := start(t, cfg, nil, redisOptions(t, rdb, prefix)...)
	body := mustJSON(t, notification("Shared", []string{"x", "y"}, nil))
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := a
			if i%2 == 1 {
				h = b
			}
			// A 503 (another replica is queueing it) is retried, as
			// Alertmanager does.
			for {
				code, _ := h.post("/alertmanager/ops", body)
				if code != http.StatusServiceUnavailable {
					codes <- code
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("answer %d", c)
		}
	}
	a.wecomMessages(1)
	time.Sleep(500 * time.Millisecond)
	if n := len(a.wc.Messages()); n != 1 {
		t.Fatalf("%d messages for one notification sent to two replicas 8 times", n)
	}
	_, ha := a.get("/history/ops")
	_, hb := b.get("/history/ops")
	if ha != hb || strings.Count(ha, `"outcome":"queued"`) != 1 || strings.Count(ha, `"outcome":"deduplicated"`) != 7 {
		t.Fatalf("histories differ or miscount:\n%s\n%s", ha, hb)
	}
}

// redisstate.Marks and Journal are the gateway's Marks and Journal.
var (
	_ Marks   = (*redisstate.Marks)(nil)
	_ Journal = (*redisstate.Journal)(nil)
)
