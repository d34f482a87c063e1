package redisstate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Marks: the first token takes a key with its stamp; others see it
// pending, then the committed value; a lapsed hold is taken over with the
// first stamp, and the lapsed holder's late commit is refused; a release
// hands the stamp to the next copy at once; a committed mark lasts its
// window.
func TestMarks(t *testing.T) {
	ctx := context.Background()
	m, err := NewMarks(client(t), WithPrefix(prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	reserve := func(key, token, stamp string, hold, window time.Duration) (string, string) {
		t.Helper()
		held, value, err := m.Reserve(ctx, key, token, stamp, hold, window)
		if err != nil {
			t.Fatal(err)
		}
		return held, value
	}
	if held, _ := reserve("k", "a", "s1", time.Minute, time.Minute); held != "s1" {
		t.Fatalf("first reserve: %q", held)
	}
	if held, value := reserve("k", "b", "s2", time.Minute, time.Minute); held != "" || value != "" {
		t.Fatalf("while held: %q %q", held, value)
	}
	if ok, err := m.Commit(ctx, "k", "a", "job1,job2", time.Minute); err != nil || !ok {
		t.Fatalf("commit: %v %v", ok, err)
	}
	if held, value := reserve("k", "c", "s3", time.Minute, time.Minute); held != "" || value != "job1,job2" {
		t.Fatalf("after commit: %q %q", held, value)
	}
	// A holder that dies: its hold lapses, the next copy takes over with
	// its stamp, and the dead one's late commit is refused.
	if held, _ := reserve("lapse", "slow", "first", 50*time.Millisecond, time.Minute); held != "first" {
		t.Fatal(held)
	}
	time.Sleep(120 * time.Millisecond)
	if held, _ := reserve("lapse", "fast", "second", time.Minute, time.Minute); held != "first" {
		t.Fatalf("a takeover must keep the first stamp, got %q", held)
	}
	if ok, _ := m.Commit(ctx, "lapse", "slow", "stale", time.Minute); ok {
		t.Fatal("a lapsed reservation's commit overwrote another's")
	}
	if ok, _ := m.Commit(ctx, "lapse", "fast", "job3", time.Minute); !ok {
		t.Fatal("the holder's commit refused")
	}
	// Release by another token does nothing; by the holder, hands the key
	// and its stamp over at once.
	if held, _ := reserve("rel", "x", "sx", time.Minute, time.Minute); held != "sx" {
		t.Fatal(held)
	}
	if err := m.Release(ctx, "rel", "y"); err != nil {
		t.Fatal(err)
	}
	if held, _ := reserve("rel", "z", "sz", time.Minute, time.Minute); held != "" {
		t.Fatalf("another's release freed the key: %q", held)
	}
	if err := m.Release(ctx, "rel", "x"); err != nil {
		t.Fatal(err)
	}
	if held, _ := reserve("rel", "z", "sz", time.Minute, time.Minute); held != "sx" {
		t.Fatalf("after release: %q, want the released stamp", held)
	}
	// A committed mark lasts its window.
	if ok, _ := m.Commit(ctx, "rel", "z", "job4", 80*time.Millisecond); !ok {
		t.Fatal("commit")
	}
	time.Sleep(150 * time.Millisecond)
	if held, _ := reserve("rel", "w", "sw", time.Minute, time.Minute); held != "sw" {
		t.Fatalf("after the window: %q", held)
	}
}

// Of many replicas reserving one key at once, exactly one takes it.
func TestMarksOneWinner(t *testing.T) {
	ctx := context.Background()
	rdb := client(t)
	p := prefix(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, _ := NewMarks(rdb, WithPrefix(p))
			held, _, err := m.Reserve(ctx, "same", fmt.Sprint(i), fmt.Sprint(i), time.Minute, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if held != "" {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d replicas took the key", won)
	}
}

// The journal keeps the newest entries per route, newest first.
func TestJournal(t *testing.T) {
	ctx := context.Background()
	j, err := NewJournal(client(t), WithPrefix(prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := j.Append(ctx, "ops", []byte(fmt.Sprint(i)), 3); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Append(ctx, "other", []byte("x"), 3)
	got, err := j.Recent(ctx, "ops", 10)
	if err != nil || len(got) != 3 || string(got[0]) != "4" || string(got[2]) != "2" {
		t.Fatalf("%q %v", got, err)
	}
	if got, _ := j.Recent(ctx, "ops", 1); len(got) != 1 || string(got[0]) != "4" {
		t.Fatalf("%q", got)
	}
}

// With Redis down, the marks say so at once: the gateway answers 503.
func TestMarksRedisDown(t *testing.T) {
	s := ownServer(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{s.addr}, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	m, _ := NewMarks(rdb, WithPrefix(prefix(t)))
	s.stop()
	if _, _, err := m.Reserve(context.Background(), "k", "a", "s", time.Minute, time.Minute); err == nil {
		t.Fatal("reserve succeeded with Redis down")
	}
}
