package redisstate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/wecom"
)

// BenchmarkPacedPush compares a WeCom text push paced by the in-memory
// limiter, paced by the Redis limiter, and a raw net/http POST with no
// pacing, against the same loopback emulator in the same run. The budget
// is large enough that no push waits: what is measured is the cost of
// asking. redis-rt/push is the Redis round trips per push (target: one).
func BenchmarkPacedPush(b *testing.B) {
	for _, kind := range []string{"raw", "memory", "redis"} {
		b.Run(kind, func(b *testing.B) {
			wc, hc := loopback(b)
			var cc commandCounter
			push := func(i int) error { return rawPush(hc, wc.WebhookURL(), i) }
			if kind != "raw" {
				opts := []wecom.Option{wecom.WithBaseURL(wc.URL), wecom.WithHTTPClient(hc), wecom.WithRateLimit(1 << 30), wecom.WithBotRateLimit(1 << 30)}
				if kind == "redis" {
					rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redisAddr(b)}})
					defer rdb.Close()
					rdb.AddHook(&cc)
					opts = append(opts, wecom.WithLimiter(newLimiter(b, rdb, WithPrefix(prefix(b)))))
				}
				bot, err := wecom.New(wc.Key, opts...)
				if err != nil {
					b.Fatal(err)
				}
				c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Backend: bot}))
				push = func(i int) error {
					_, err := c.Push(context.Background(), wecom.IM, "room", "", "", "report "+strconv.Itoa(i))
					return err
				}
			}
			measure(b, push, &cc, "pushes/s", "redis-rt/push")
		})
	}
}

// loopback is the emulator a benchmark pushes to, unpaced and not
// recording, and the HTTP client both the SDK and the raw loop use.
func loopback(b *testing.B) (*imtest.WeCom, *http.Client) {
	wc := imtest.NewWeCom(imtest.WithWeComRate(0), imtest.WithWeComRecording(false))
	b.Cleanup(wc.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(tr.CloseIdleConnections)
	return wc, &http.Client{Transport: tr}
}

// measure warms op up (connections, scripts), then runs it b.N times and
// reports ops per second (rate) and the Redis round trips per op (trips).
func measure(b *testing.B, op func(i int) error, cc *commandCounter, rate, trips string) {
	if err := op(-1); err != nil {
		b.Fatal(err)
	}
	cc.n.Store(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), rate)
	b.ReportMetric(float64(cc.n.Load())/float64(b.N), trips)
}

// rawPush is the hand-written floor: the same text body, POSTed with a 5 s
// timeout, errcode checked.
func rawPush(hc *http.Client, sendURL string, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body := fmt.Appendf(nil, `{"chatid":"room","msgtype":"text","text":{"content":"report %d"}}`, i)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sendURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.HasPrefix(data, []byte(`{"errcode":0,`)) {
		return fmt.Errorf("raw: %s %v", data, err)
	}
	return nil
}
