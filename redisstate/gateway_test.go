package redisstate

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Marks: the first token takes a key; others see it pending, then the
// committed value; a lapsed reservation is taken by the next; a late
// commit of the lapsed one does not overwrite it; an abort frees the key
// for the next copy at once.
func TestMarks(t *testing.T) {
	ctx := context.Background()
	m, err := NewMarks(client(t), WithPrefix(prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m.Reserve(ctx, "k", "a", time.Minute); err != nil || v != "" {
		t.Fatalf("first reserve: %q %v", v, err)
	}
	if v, _ := m.Reserve(ctx, "k", "b", time.Minute); v != pending {
		t.Fatalf("while held: %q", v)
	}
	if ok, err := m.Commit(ctx, "k", "a", "job1", time.Minute); err != nil || !ok {
		t.Fatalf("commit: %v %v", ok, err)
	}
	if v, _ := m.Reserve(ctx, "k", "c", time.Minute); v != "job1" {
		t.Fatalf("after commit: %q", v)
	}
	// A hold that lapses: another takes the key, and the first's late
	// commit is refused.
	if v, _ := m.Reserve(ctx, "lapse", "slow", 50*time.Millisecond); v != "" {
		t.Fatal(v)
	}
	time.Sleep(120 * time.Millisecond)
	if v, _ := m.Reserve(ctx, "lapse", "fast", time.Minute); v != "" {
		t.Fatalf("after the hold lapsed: %q", v)
	}
	if ok, _ := m.Commit(ctx, "lapse", "slow", "stale", time.Minute); ok {
		t.Fatal("a lapsed reservation's commit overwrote another's")
	}
	if ok, _ := m.Commit(ctx, "lapse", "fast", "job2", time.Minute); !ok {
		t.Fatal("the holder's commit refused")
	}
	// Abort by another token does nothing; by the holder, frees the key.
	if v, _ := m.Reserve(ctx, "ab", "x", time.Minute); v != "" {
		t.Fatal(v)
	}
	if err := m.Abort(ctx, "ab", "y"); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Reserve(ctx, "ab", "z", time.Minute); v != pending {
		t.Fatalf("another's abort freed the key: %q", v)
	}
	if err := m.Abort(ctx, "ab", "x"); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Reserve(ctx, "ab", "z", time.Minute); v != "" {
		t.Fatalf("after abort: %q", v)
	}
	// A committed mark lasts its window only.
	if ok, _ := m.Commit(ctx, "ab", "z", "job3", 80*time.Millisecond); !ok {
		t.Fatal("commit")
	}
	time.Sleep(150 * time.Millisecond)
	if v, _ := m.Reserve(ctx, "ab", "w", time.Minute); v != "" {
		t.Fatalf("after the window: %q", v)
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
			v, err := m.Reserve(ctx, "same", fmt.Sprint(i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if v == "" {
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
	if _, err := m.Reserve(context.Background(), "k", "a", time.Minute); err == nil {
		t.Fatal("reserve succeeded with Redis down")
	}
}
