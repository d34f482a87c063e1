package otelobserver_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/otelobserver"
	"github.com/imbridge/middleware/wecom"
)

// A push is one span, with a child span per HTTP request the backend
// made; here the spans go to an in-memory recorder instead of an
// exporter.
func Example() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	obs, err := otelobserver.New(otelobserver.WithTracerProvider(tp))
	if err != nil {
		panic(err)
	}
	wc := imtest.NewWeCom()
	defer wc.Close()
	bot, _ := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL))
	c, _ := middleware.NewClient(middleware.WithObserver(obs),
		middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))

	if _, err := c.Push(context.Background(), wecom.IM, "", "", "", "deploy finished"); err != nil {
		panic(err)
	}
	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.Status().Code)
	}
	// Output:
	// POST Unset
	// push wecom Unset
}
