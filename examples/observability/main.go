// Command observability wires the SDK to OpenTelemetry: spans go to the
// stdout exporter, metrics to a reader printed at the end. It pushes to the
// emulators of package imtest: a success, a TIM push retried once, and a
// WeCom push the client refuses for its rate budget.
//
//	go run ./examples/observability
//
// In a service, give otelobserver.New your own providers (an OTLP
// exporter, say) or let it take the global ones.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/otelobserver"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "observability:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	exp, err := stdouttrace.New(stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(ctx) }()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	obs, err := otelobserver.New(otelobserver.WithTracerProvider(tp), otelobserver.WithMeterProvider(mp))
	if err != nil {
		return err
	}

	wc := imtest.NewWeCom()
	defer wc.Close()
	tim := imtest.NewTIM()
	defer tim.Close()
	bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(1))
	if err != nil {
		return err
	}
	tc, err := timchat.New(timchat.Config{SDKAppID: tim.SDKAppID, SecretKey: tim.SecretKey, Admin: tim.Admin, BaseURL: tim.URL},
		timchat.WithRetry(3, 10*time.Millisecond))
	if err != nil {
		return err
	}
	c, err := middleware.NewClient(middleware.WithObserver(obs),
		middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Backend: bot}),
		middleware.WithAccount(middleware.Account{ID: "tim-admin", IM: timchat.IM, Backend: tc}))
	if err != nil {
		return err
	}

	if _, err := c.Push(ctx, wecom.IM, "ops-room", "", "Daily", "all green"); err != nil {
		return err
	}
	tim.FailNext(1, 10002) // busy once: retried, and deduplicated by MsgRandom
	if _, err := c.Push(ctx, timchat.IM, "", "alice", "", "deploy done"); err != nil {
		return err
	}
	// The pacer allows one message a minute here: the next one is refused
	// by the client, unsent.
	_, err = c.Push(ctx, wecom.IM, "ops-room", "", "", "too soon", middleware.WithTimeout(time.Second))
	fmt.Fprintln(os.Stderr, "refused as expected:", err)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Println("metrics:")
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, line := range points(m) {
				fmt.Printf("  %-30s %s\n", m.Name, line)
			}
		}
	}
	return nil
}

// points renders a metric's data points, one line each.
func points(m metricdata.Metrics) []string {
	enc := attribute.DefaultEncoder()
	var out []string
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, fmt.Sprintf("%-50s %d", p.Attributes.Encoded(enc), p.Value))
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, fmt.Sprintf("%-50s count %d, sum %.3fs", p.Attributes.Encoded(enc), p.Count, p.Sum))
		}
	}
	sort.Strings(out)
	return out
}
