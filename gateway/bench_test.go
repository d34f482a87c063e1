package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/testkit"
	"github.com/imbridge/middleware/redisstate"
)

// benchGateway serves a gateway whose WeCom account paces to rate a
// minute per chat (0: not paced) and whose queue has no practical limit;
// with redis, its budget, queue, marks and history are on the tests'
// Redis.
func benchGateway(b *testing.B, withRedis bool, rate int) (string, *imtest.WeCom) {
	b.Helper()
	wc := imtest.NewWeCom(imtest.WithWeComRate(0), imtest.WithWeComRecording(false))
	b.Cleanup(wc.Close)
	cfg, err := Parse([]byte(fmt.Sprintf(`
accounts:
  - ops wecom://%s?base=%s&rate=%d
queue_limit: 100000000
routes:
  - name: ops
    account: ops
`, wc.Key, url.QueryEscape(wc.URL), rate)))
	if err != nil {
		b.Fatal(err)
	}
	var opts []Option
	if withRedis {
		rdb := redis.NewClient(&redis.Options{Addr: testkit.Redis(b)})
		b.Cleanup(func() { rdb.Close() })
		p := redisstate.WithPrefix("bench-" + randomHex(4))
		store, err := redisstate.NewOutboxStore(context.Background(), rdb, p)
		if err != nil {
			b.Fatal(err)
		}
		marks, _ := redisstate.NewMarks(rdb, p)
		journal, _ := redisstate.NewJournal(rdb, p)
		limiter, _ := redisstate.NewLimiter(rdb, p)
		opts = append(opts, WithStore(store), WithMarks(marks), WithJournal(journal), WithLimiter(limiter))
	}
	srv, err := New(cfg, append(opts, WithLogger(discard()))...)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String(), wc
}

// bodies are distinct notifications (each its own group), as JSON.
func bodies(b *testing.B, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		nt := notification("Bench"+strconv.Itoa(i), []string{"host-1", "host-2", "host-3"}, nil)
		out[i], _ = json.Marshal(nt)
	}
	return out
}

func postAll(b *testing.B, client *http.Client, target string, bs [][]byte) {
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			resp, err := client.Post(target, "application/json", bytes.NewReader(bs[i]))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// Notifications accepted per second at the HTTP edge: decoded, deduped,
// written, queued durably, answered 200. Baseline: a bare net/http
// handler that reads and decodes the same body and answers 200.
func BenchmarkAccept(b *testing.B) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Run("baseline-net-http", func(b *testing.B) {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var n Notification
			if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
				w.WriteHeader(400)
				return
			}
			w.WriteHeader(200)
		})}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		bs := bodies(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		postAll(b, client, "http://"+ln.Addr().String()+"/", bs)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
	})
	for _, withRedis := range []bool{false, true} {
		name := "memory"
		if withRedis {
			name = "redis"
		}
		b.Run(name, func(b *testing.B) {
			base, _ := benchGateway(b, withRedis, 0) // the edge, not the budget
			bs := bodies(b, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			postAll(b, client, base+"/alertmanager/ops", bs)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
		})
	}
}

// The time from receipt to delivery, one notification at a time, under
// the budget (the pacer books every message, with room to spare): the
// POST, the queue, the outbox's pickup, the booking and the platform's
// answer.
func BenchmarkReceiptToDelivery(b *testing.B) {
	for _, withRedis := range []bool{false, true} {
		name := "memory"
		if withRedis {
			name = "redis"
		}
		b.Run(name, func(b *testing.B) {
			base, wc := benchGateway(b, withRedis, 1_000_000)
			bs := bodies(b, b.N)
			b.ResetTimer()
			for i := range b.N {
				resp, err := http.Post(base+"/alertmanager/ops", "application/json", bytes.NewReader(bs[i]))
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				for wc.Requests() < i+1 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
