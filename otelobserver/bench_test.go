package otelobserver_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/otelobserver"
	"github.com/imbridge/middleware/wecom"
)

// okTransport answers every WeCom send in memory, so that what is measured
// is the client side: the SDK, and the Observer's cost on top.
type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	const ok = `{"errcode":0,"errmsg":"ok"}`
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(ok)),
		ContentLength: int64(len(ok)), Request: r}, nil
}

// BenchmarkObserverCost is a WeCom text push, client side only, with no
// Observer (off), with OpenTelemetry's no-op providers, and with the
// OpenTelemetry SDK recording spans (in memory) and metrics.
func BenchmarkObserverCost(b *testing.B) {
	for _, kind := range []string{"off", "noop", "sdk"} {
		b.Run(kind, func(b *testing.B) {
			var opts []middleware.ClientOption
			switch kind {
			case "noop":
				obs, err := otelobserver.New(otelobserver.WithTracerProvider(tracenoop.NewTracerProvider()),
					otelobserver.WithMeterProvider(noop.NewMeterProvider()))
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, middleware.WithObserver(obs))
			case "sdk":
				spans := tracetest.NewSpanRecorder()
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				obs, err := otelobserver.New(otelobserver.WithTracerProvider(tp), otelobserver.WithMeterProvider(mp))
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, middleware.WithObserver(obs))
				defer func() { _ = tp.Shutdown(context.Background()) }()
			}
			bot, err := wecom.New("bench-key-0001", wecom.WithBaseURL("http://wecom.test"),
				wecom.WithHTTPClient(&http.Client{Transport: okTransport{}}), wecom.WithRateLimit(0))
			if err != nil {
				b.Fatal(err)
			}
			c, _ := middleware.NewClient(append(opts, middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Backend: bot}))...)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := c.Push(context.Background(), wecom.IM, "room", "", "", "report "+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
