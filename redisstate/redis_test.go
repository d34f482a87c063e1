package redisstate

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// howToRun says how to give these tests a Redis outside CI.
const howToRun = "these tests need a real Redis: install redis-server (Debian: apt-get install redis-server) " +
	"and they start their own, or point REDIS_ADDR at one (redis-server --port 6399 --save '' --appendonly no; " +
	"REDIS_ADDR=127.0.0.1:6399 go test ./redisstate)"

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
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
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

// startServer runs redis-server (REDIS_SERVER, or the one on PATH) on a
// free loopback port with persistence off.
func startServer() (*server, error) {
	bin := os.Getenv("REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return nil, fmt.Errorf("no redis-server on PATH")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "redisstate")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			os.RemoveAll(dir)
		})
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.addr})
	defer rdb.Close()
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if rdb.Ping(context.Background()).Err() == nil {
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("redis-server did not answer on %s", s.addr)
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
