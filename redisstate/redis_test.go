package redisstate

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware/internal/testkit"
)

// howToRun says how to give these tests a Redis outside CI.
const howToRun = testkit.RedisHowTo

var shared struct {
	once sync.Once
	addr string
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	exampleRedis()
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// exampleRedis gives the examples, which cannot skip, the shared Redis in
// REDIS_ADDR; outside CI, with no Redis to start, it skips them with a
// word on stderr.
func exampleRedis() {
	if os.Getenv("REDIS_ADDR") != "" {
		return
	}
	shared.once.Do(func() {
		var s *server
		s, shared.err = startServer()
		if shared.err == nil {
			shared.addr, shared.stop = s.addr, s.stop
		}
	})
	if shared.err == nil {
		os.Setenv("REDIS_ADDR", shared.addr)
		return
	}
	if os.Getenv("CI") == "" {
		flag.Parse()
		_ = flag.Set("test.skip", "^Example")
		fmt.Fprintf(os.Stderr, "redisstate: examples skipped: %v; %s\n", shared.err, howToRun)
	}
}

// redisAddr returns the Redis the tests share: REDIS_ADDR, or one started
// for this run. Outside CI without either, the test is skipped with
// howToRun; in CI (CI=true) that is a failure, never a skip.
func redisAddr(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	shared.once.Do(func() {
		var s *server
		s, shared.err = startServer()
		if shared.err == nil {
			shared.addr, shared.stop = s.addr, s.stop
		}
	})
	if shared.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Redis in CI: REDIS_ADDR is unset and %v", shared.err)
		}
		t.Skipf("%v; %s", shared.err, howToRun)
	}
	return shared.addr
}

// client returns a go-redis client on the shared Redis.
func client(t testing.TB) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redisAddr(t)}})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// prefix is a key prefix of one test, so that tests sharing a Redis never
// see each other's keys.
func prefix(t testing.TB) string {
	return fmt.Sprintf("test:%s:%s", strings.ReplaceAll(t.Name(), "/", "."), bookingID()[:8])
}

// server is a redis-server process of the tests' own, which a test may
// stop, pause or kill.
type server struct {
	addr string
	cmd  *exec.Cmd
	stop func()
}

// startServer runs a redis-server of the tests' own.
func startServer() (*server, error) {
	s, err := testkit.StartRedis()
	if err != nil {
		return nil, err
	}
	return &server{addr: s.Addr, cmd: s.Cmd, stop: s.Stop}, nil
}

// ownServer starts a redis-server that only this test uses, to stop or
// kill. Like redisAddr, it skips outside CI when none can be started.
func ownServer(t *testing.T) *server {
	t.Helper()
	s, err := startServer()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot start redis-server in CI: %v", err)
		}
		t.Skipf("%v; %s", err, howToRun)
	}
	t.Cleanup(s.stop)
	return s
}

// commandCounter is a go-redis hook that counts the commands sent, and
// each pipeline as one round trip.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// lines reads a child's JSON lines.
func lines(out []byte) []string {
	var ls []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "{") {
			ls = append(ls, l)
		}
	}
	return ls
}

// newLimiter is NewLimiter for tests: a bad option fails tb.
func newLimiter(tb testing.TB, rdb redis.UniversalClient, opts ...Option) *Limiter {
	tb.Helper()
	l, err := NewLimiter(rdb, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// newMediaCache is NewMediaCache for tests: a bad option fails tb.
func newMediaCache(tb testing.TB, rdb redis.UniversalClient, opts ...Option) *MediaCache {
	tb.Helper()
	m, err := NewMediaCache(rdb, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
