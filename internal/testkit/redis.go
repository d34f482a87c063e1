package testkit

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RedisHowTo says how to give the Redis tests a server outside CI.
const RedisHowTo = "these tests need a real Redis: install redis-server (Debian: apt-get install redis-server) " +
	"and they start their own, or point REDIS_ADDR at one (redis-server --port 6399 --save '' --appendonly no; " +
	"REDIS_ADDR=127.0.0.1:6399 go test ./...)"

// RedisServer is a redis-server process of the tests' own, which a test
// may stop, pause or kill.
type RedisServer struct {
	Addr string
	Cmd  *exec.Cmd
	Stop func() // kills it and removes its directory; safe to call twice
}

// StartRedis runs redis-server (REDIS_SERVER, or the one on PATH) on a free
// loopback port with persistence off, and waits until it answers PING.
func StartRedis() (*RedisServer, error) {
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
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), Cmd: cmd}
	var once sync.Once
	s.Stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			os.RemoveAll(dir)
		})
	}
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if ping(s.Addr) {
			return s, nil
		}
	}
	s.Stop()
	return nil, fmt.Errorf("redis-server did not answer on %s", s.Addr)
}

// ping reports whether a Redis at addr answers PING with PONG.
func ping(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// Redis returns REDIS_ADDR, or the address of a redis-server started for t
// and stopped when it ends. Outside CI with neither, t is skipped saying
// how to run it; in CI (CI set) that is a failure, never a skip.
func Redis(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	s, err := StartRedis()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Redis in CI: REDIS_ADDR is unset and %v", err)
		}
		t.Skipf("%v; %s", err, RedisHowTo)
	}
	t.Cleanup(s.Stop)
	return s.Addr
}
