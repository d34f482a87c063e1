// Command cron shows a scheduled job: no message triggered it, so pushes
// use each IM's default account (rule 3) unless an account is named
// explicitly (rule 1), and one job can report to several IMs.
//
// It runs on the emulators of package imtest; pass -runs to repeat the job
// every -every.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

func main() {
	runs := flag.Int("runs", 1, "how many times to run the job")
	every := flag.Duration("every", time.Second, "time between runs")
	flag.Parse()

	wc := imtest.NewWeCom()
	defer wc.Close()
	tim := imtest.NewTIM(imtest.WithTIMApp(1400000000, "cron-secret", "administrator"))
	defer tim.Close()

	ops, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(0))
	check(err)
	alerts, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(0))
	check(err)
	im, err := timchat.New(timchat.Config{SDKAppID: 1400000000, SecretKey: "cron-secret", Admin: "administrator", BaseURL: tim.URL})
	check(err)

	client, err := middleware.NewClient(
		middleware.WithAccount(middleware.Account{ID: "ops-bot", IM: "wecom", Default: true, Backend: ops}),
		middleware.WithAccount(middleware.Account{ID: "alert-bot", IM: "wecom", Backend: alerts}),
		middleware.WithAccount(middleware.Account{ID: "tim-admin", IM: "tim", Default: true, Backend: im}),
	)
	check(err)

	ctx := middleware.WithOrigin(context.Background(), middleware.Origin{Kind: middleware.OriginCron})
	for i := range *runs {
		if i > 0 {
			time.Sleep(*every)
		}
		report := fmt.Sprintf("Nightly report #%d: 42 jobs, 0 failures", i+1)

		// Rule 3: cron uses the WeCom default account, ops-bot.
		n, err := client.Push(ctx, "wecom", "", "", "Nightly", report)
		show("wecom default account", n, err)

		// Rule 1: an explicit account always wins.
		n, err = client.Push(ctx, "wecom", "", "", "Alert", "disk 91% on db-1", middleware.WithAccountID("alert-bot"))
		show("wecom alert-bot", n, err)

		// Cross-IM: the same job reports to TIM users through TIM's default.
		n, err = client.Push(ctx, "tim", "", "alice|bob", "Nightly", report)
		show("tim default account", n, err)

		// An explicit account of another IM is refused, never swapped.
		_, err = client.Push(ctx, "tim", "", "alice", "", "x", middleware.WithAccountID("ops-bot"))
		if !errors.Is(err, middleware.ErrUnknownAccount) {
			fmt.Fprintln(os.Stderr, "expected ErrUnknownAccount, got", err)
			os.Exit(1)
		}
		fmt.Println("refused as expected:", err)
	}
	fmt.Printf("WeCom got %d messages, TIM got %d\n", len(wc.Messages()), len(tim.Messages()))
}

func show(what string, n int, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
	fmt.Printf("%-24s sent to %d target(s)\n", what, n)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
