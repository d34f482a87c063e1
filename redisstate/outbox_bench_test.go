package redisstate

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/wecom"
)

// BenchmarkOutboxEnqueue measures what a caller waits for when it queues a
// text push instead of sending it: the memory store, the Redis store, and,
// in the same run, a raw net/http POST of the same message to the loopback
// emulator (what queueing replaces). redis-rt/op is the Redis round trips
// per enqueue.
func BenchmarkOutboxEnqueue(b *testing.B) {
	for _, kind := range []string{"raw-send", "memory", "redis"} {
		b.Run(kind, func(b *testing.B) {
			wc, hc := loopback(b)
			var cc commandCounter
			op := func(i int) error { return rawPush(hc, wc.WebhookURL(), i) }
			if kind != "raw-send" {
				bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithHTTPClient(hc))
				if err != nil {
					b.Fatal(err)
				}
				c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Default: true, Backend: bot}))
				var opts []outbox.Option
				if kind == "redis" {
					rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redisAddr(b)}})
					defer rdb.Close()
					rdb.AddHook(&cc)
					store, err := NewOutboxStore(context.Background(), rdb, WithPrefix(prefix(b)))
					if err != nil {
						b.Fatal(err)
					}
					opts = append(opts, outbox.WithStore(store))
				}
				o, err := outbox.New(c, opts...)
				if err != nil {
					b.Fatal(err)
				}
				op = func(i int) error {
					_, err := o.Push(context.Background(), wecom.IM, "room", "", "", "report "+strconv.Itoa(i))
					return err
				}
			}
			measure(b, op, &cc, "ops/s", "redis-rt/op")
		})
	}
}
