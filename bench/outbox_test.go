package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/wecom"
)

// BenchmarkOutboxFlood drains a flood of 200 alert texts to one chat under
// a budget of 20 messages per 200 ms window, with and without merging.
// texts/msg is what one unit of the budget carries; texts/s is how fast
// the flood drains.
func BenchmarkOutboxFlood(b *testing.B) {
	const texts, budget, window = 200, 20, 200 * time.Millisecond
	for _, kind := range []string{"alone", "merged"} {
		b.Run(kind, func(b *testing.B) {
			wc := imtest.NewWeCom(imtest.WithWeComRate(budget), imtest.WithWeComWindow(window))
			defer wc.Close()
			opt := outbox.WithoutCoalescing()
			if kind == "merged" {
				opt = outbox.WithCoalesceAfter(20 * time.Millisecond)
			}
			var sent, msgs int
			for b.Loop() {
				wc.Reset()
				bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(budget), wecom.WithRateWindow(window))
				if err != nil {
					b.Fatal(err)
				}
				c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Default: true, Backend: bot}))
				o, err := outbox.New(c, opt, outbox.WithSeparator("\n"))
				if err != nil {
					b.Fatal(err)
				}
				ids := make([]string, texts)
				for i := range ids {
					if ids[i], err = o.Push(ctx, wecom.IM, "room", "", "", fmt.Sprintf("alert %03d: disk /var on host-%02d is 91%% full", i, i%13)); err != nil {
						b.Fatal(err)
					}
				}
				runCtx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- o.Run(runCtx) }()
				for _, id := range ids {
					if s, err := o.Wait(ctx, id); err != nil || s.State != outbox.JobSent {
						b.Fatalf("%s: %v %v", id, s.State, err)
					}
				}
				stop()
				<-done
				if n := wc.Answered(45009); n > 0 {
					b.Fatalf("%d × 45009", n)
				}
				sent, msgs = sent+texts, msgs+len(wc.Messages())
			}
			b.ReportMetric(float64(sent)/float64(msgs), "texts/msg")
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "texts/s")
		})
	}
}
