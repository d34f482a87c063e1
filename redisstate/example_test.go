package redisstate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/redisstate"
	"github.com/imbridge/middleware/wecom"
)

// exampleRedis is the Redis the examples run on (the tests start one when
// REDIS_ADDR is not set), and a prefix of their own so that runs never
// meet.
func exampleRedis() (redis.UniversalClient, string) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{os.Getenv("REDIS_ADDR")}}), "example-" + hex.EncodeToString(b)
}

// Two replicas of a service share one budget through Redis: here two
// Limiters stand for them, on a budget of 2 sends a minute.
func ExampleNewLimiter() {
	rdb, prefix := exampleRedis()
	defer rdb.Close()
	replicaA, _ := redisstate.NewLimiter(rdb, redisstate.WithPrefix(prefix))
	replicaB, _ := redisstate.NewLimiter(rdb, redisstate.WithPrefix(prefix))
	budget := []middleware.Budget{{Key: "bot-1", Limit: 2, Window: time.Minute}}
	ctx := context.Background()
	for i, l := range []*redisstate.Limiter{replicaA, replicaB, replicaA} {
		r, err := l.Reserve(ctx, budget, 0) // 0: take a slot free now, or none
		if err != nil {
			panic(err)
		}
		fmt.Printf("send %d: now %v, next slot within a minute %v\n", i+1, r.OK && r.Delay == 0, r.Delay <= time.Minute)
	}
	// In a service: wecom.New(key, wecom.WithLimiter(replicaA)).

	// Output:
	// send 1: now true, next slot within a minute true
	// send 2: now true, next slot within a minute true
	// send 3: now false, next slot within a minute true
}

// Replicas that send the same file upload it once: the media_id WeCom
// returned is shared through Redis. Two Clients stand for two replicas.
func ExampleNewMediaCache() {
	rdb, prefix := exampleRedis()
	defer rdb.Close()
	wc := imtest.NewWeCom()
	defer wc.Close()
	ctx := context.Background()
	for _, replica := range []string{"a", "b"} {
		cache, _ := redisstate.NewMediaCache(rdb, redisstate.WithPrefix(prefix))
		bot, _ := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithMediaCache(cache))
		c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: replica, IM: wecom.IM, Default: true, Backend: bot}))
		if _, err := c.PushFile(ctx, wecom.IM, "", "", "", "base64://d2Vla2x5IHJlcG9ydDogYWxsIGdyZWVu", middleware.WithFilename("report.txt")); err != nil {
			panic(err)
		}
	}
	fmt.Println("files sent:", len(wc.Messages()), "uploads:", wc.Uploads())
	// Output:
	// files sent: 2 uploads: 1
}

// An outbox on Redis outlives the process and is shared by replicas: any
// of them delivers what any of them queued.
func ExampleNewOutboxStore() {
	rdb, prefix := exampleRedis()
	defer rdb.Close()
	ctx := context.Background()
	store, err := redisstate.NewOutboxStore(ctx, rdb, redisstate.WithPrefix(prefix))
	if err != nil {
		panic(err)
	}
	wc := imtest.NewWeCom()
	defer wc.Close()
	bot, _ := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL))
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))

	queuer, _ := outbox.New(c, outbox.WithStore(store))    // a replica that only queues
	deliverer, _ := outbox.New(c, outbox.WithStore(store)) // one that delivers
	id, err := queuer.Push(ctx, wecom.IM, "", "", "", "disk /var is 91% full")
	if err != nil {
		panic(err)
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- deliverer.Run(run) }()
	st, _ := queuer.Wait(ctx, id)
	stop()
	<-done
	fmt.Println(st.State, st.Sent, wc.Messages()[0].Content)
	// Output:
	// sent 1 disk /var is 91% full
}
