// Package otelobserver reports what the SDK does to OpenTelemetry: a span
// per push with a child span per HTTP attempt, and metrics of pushes,
// attempts, rate-limit refusals, pacer waits, uploads and media-cache hits.
//
//	obs, err := otelobserver.New() // the global providers, or WithTracerProvider / WithMeterProvider
//	c, err := middleware.NewClient(middleware.WithObserver(obs), ...)
//
// Nothing it records holds a secret or message content. Wrapping the SDK's
// HTTP client in otelhttp instead would put URLs in spans, and the URLs of
// both platforms carry bearer secrets (key=, usersig=): attempt spans here
// carry the host and the path, never the query, and push spans carry error
// classes, never error texts. HTTP attempt spans follow the HTTP client
// semantic conventions where they apply (http.request.method,
// server.address, http.response.status_code, error.type,
// http.request.resend_count).
//
// This package is in the root module but outside the library's import
// graph: code that does not import it never compiles OpenTelemetry.
package otelobserver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/imbridge/middleware"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/imbridge/middleware"

var _ middleware.Observer = (*Observer)(nil)

// Observer is a middleware.Observer that records spans and metrics. It is
// safe for concurrent use.
type Observer struct {
	tracer trace.Tracer
	m      instruments
	mu     sync.RWMutex
	sets   map[setKey]metric.MeasurementOption // built once per combination: a push allocates none
}

// setKey names a metric attribute combination; there are few (IMs ×
// outcomes × APIs).
type setKey struct{ metric, a, b, c string }

// attrs returns the metric option of k, built from kvs the first time.
func (o *Observer) attrs(k setKey, kvs ...attribute.KeyValue) metric.MeasurementOption {
	o.mu.RLock()
	opt, ok := o.sets[k]
	o.mu.RUnlock()
	if ok {
		return opt
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if opt, ok = o.sets[k]; !ok {
		opt = metric.WithAttributeSet(attribute.NewSet(kvs...))
		o.sets[k] = opt
	}
	return opt
}

// Span options built once.
var (
	internalKind = trace.WithSpanKind(trace.SpanKindInternal)
	clientKind   = trace.WithSpanKind(trace.SpanKindClient)
)

// Option configures New.
type Option func(*config)

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider records spans with tp. Default: otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider records metrics with mp. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// New returns an Observer on the providers of opts, or the global ones.
func New(opts ...Option) (*Observer, error) {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.tp == nil {
		cfg.tp = otel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	m, err := newInstruments(cfg.mp.Meter(ScopeName))
	if err != nil {
		return nil, err
	}
	return &Observer{tracer: cfg.tp.Tracer(ScopeName), m: m, sets: map[setKey]metric.MeasurementOption{}}, nil
}

// Attribute keys of this package's own, beside the semantic conventions.
const (
	keyHelper   = attribute.Key("imbridge.helper")
	keyIM       = attribute.Key("imbridge.im")
	keyAccount  = attribute.Key("imbridge.account")
	keyTarget   = attribute.Key("imbridge.target.kind")
	keyItems    = attribute.Key("imbridge.items")
	keySent     = attribute.Key("imbridge.sent")
	keyOutcome  = attribute.Key("imbridge.outcome")
	keyAPI      = attribute.Key("imbridge.api")
	keyCode     = attribute.Key("imbridge.platform.code")
	keyWritten  = attribute.Key("imbridge.request.written")
	keyBy       = attribute.Key("imbridge.refused_by")
	keyRefused  = attribute.Key("imbridge.refused")
	keyType     = attribute.Key("imbridge.media.type")
	keyCacheHit = attribute.Key("imbridge.media_cache.hit")
)

// PushStart starts the push span, a child of ctx's span.
func (o *Observer) PushStart(ctx context.Context, p middleware.PushInfo) context.Context {
	ctx, span := o.tracer.Start(ctx, p.Helper+" "+p.IM, internalKind) // PushStart is called as the push starts
	if !span.IsRecording() {
		return ctx // a no-op or unsampled span: build nothing for it
	}
	items := make([]string, len(p.Items))
	for i, t := range p.Items {
		items[i] = string(t)
	}
	span.SetAttributes(keyHelper.String(p.Helper), keyIM.String(p.IM), keyTarget.String(p.Target), keyItems.StringSlice(items))
	return ctx
}

// PushEnd ends the push span and counts the push.
func (o *Observer) PushEnd(ctx context.Context, p middleware.PushInfo, r middleware.PushResult) {
	outcome := outcomeOf(r)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(keyAccount.String(p.Account), keySent.Int(r.Sent), keyOutcome.String(outcome))
		if r.Err != nil {
			// The class, never the error's text: it may name files or chats.
			span.SetStatus(codes.Error, outcome)
			span.SetAttributes(semconv.ErrorTypeKey.String(outcome))
		}
		span.End(trace.WithTimestamp(p.Start.Add(r.Duration)))
	}
	attrs := o.attrs(setKey{"push", p.IM, outcome, ""}, keyIM.String(p.IM), keyOutcome.String(outcome))
	o.m.pushes.Add(ctx, 1, attrs)
	o.m.pushDuration.Record(ctx, r.Duration.Seconds(), attrs)
	if by := refusedBy(r.Err); by != "" {
		o.m.rateLimited.Add(ctx, 1, o.attrs(setKey{"rate_limited", p.IM, by, ""}, keyIM.String(p.IM), keyBy.String(by)))
	}
}

// outcomeOf is the push's outcome class: "ok", or the error's category.
func outcomeOf(r middleware.PushResult) string {
	switch {
	case r.Err == nil:
		return "ok"
	case r.Class != "":
		return r.Class
	}
	return "other"
}

// refusedBy says who refused a rate-limited push: "platform" (an answer),
// "client" (the pacer or a spacing rule), or "" when it was not refused.
func refusedBy(err error) string {
	if !errors.Is(err, middleware.ErrRateLimited) {
		return ""
	}
	var le *middleware.LimitError
	if errors.As(err, &le) {
		return "client"
	}
	return "platform"
}

// Attempt records one HTTP attempt as a client span, a child of the push,
// with the times it really took.
func (o *Observer) Attempt(ctx context.Context, a middleware.AttemptInfo) {
	outcome := a.ErrorType
	if outcome == "" {
		outcome = "ok"
	}
	o.m.attempts.Add(ctx, 1, o.attrs(setKey{"attempt", a.Backend, a.API, outcome},
		keyIM.String(a.Backend), keyAPI.String(a.API), keyOutcome.String(outcome)))
	_, span := o.tracer.Start(ctx, a.Method, trace.WithTimestamp(a.Start), clientKind)
	if !span.IsRecording() {
		return
	}
	host, port := splitHost(a.Host)
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(a.Method), semconv.ServerAddressKey.String(host),
		keyIM.String(a.Backend), keyAPI.String(a.API), keyWritten.Bool(a.Written),
	}
	if port > 0 {
		attrs = append(attrs, semconv.ServerPortKey.Int(port))
	}
	if a.Status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCodeKey.Int(a.Status))
	}
	if a.Code != 0 {
		attrs = append(attrs, keyCode.Int(a.Code))
	}
	if a.Retry > 0 {
		attrs = append(attrs, semconv.HTTPRequestResendCountKey.Int(a.Retry))
	}
	if a.ErrorType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(a.ErrorType))
	}
	span.SetAttributes(attrs...)
	if a.ErrorType != "" {
		span.SetStatus(codes.Error, a.ErrorType)
	}
	span.End(trace.WithTimestamp(a.Start.Add(a.Duration)))
}

// Wait records a booking against a rate budget: how long it waited, or
// would have had to when refused.
func (o *Observer) Wait(ctx context.Context, w middleware.WaitInfo) {
	o.m.pacerWait.Record(ctx, w.Wait.Seconds(), o.attrs(setKey{"wait", w.Backend, strconv.FormatBool(w.Refused), ""},
		keyIM.String(w.Backend), keyRefused.Bool(w.Refused)))
	if span := trace.SpanFromContext(ctx); span.IsRecording() && (w.Wait > 0 || w.Refused) {
		span.AddEvent("rate budget", trace.WithAttributes(
			attribute.Float64("imbridge.wait.seconds", w.Wait.Seconds()), keyRefused.Bool(w.Refused)))
	}
}

// Upload counts an upload's bytes, or a media-cache hit.
func (o *Observer) Upload(ctx context.Context, u middleware.UploadInfo) {
	o.m.cacheLookups.Add(ctx, 1, o.attrs(setKey{"cache", u.Backend, strconv.FormatBool(u.CacheHit), ""},
		keyIM.String(u.Backend), keyCacheHit.Bool(u.CacheHit)))
	if !u.CacheHit {
		o.m.uploadBytes.Add(ctx, u.Bytes, o.attrs(setKey{"upload", u.Backend, string(u.Type), ""}, keyIM.String(u.Backend), keyType.String(string(u.Type))))
	}
}

// splitHost splits host[:port].
func splitHost(hostport string) (string, int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// instruments are the metrics, named in the table of docs/observability.md.
type instruments struct {
	pushes       metric.Int64Counter
	pushDuration metric.Float64Histogram
	attempts     metric.Int64Counter
	rateLimited  metric.Int64Counter
	pacerWait    metric.Float64Histogram
	uploadBytes  metric.Int64Counter
	cacheLookups metric.Int64Counter
}

func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	var err error
	in.pushes, err = m.Int64Counter("imbridge.pushes", metric.WithDescription("Helper calls, by IM and outcome."), metric.WithUnit("{push}"))
	add(err)
	in.pushDuration, err = m.Float64Histogram("imbridge.push.duration", metric.WithDescription("Duration of helper calls."), metric.WithUnit("s"))
	add(err)
	in.attempts, err = m.Int64Counter("imbridge.http.attempts", metric.WithDescription("HTTP requests to the platforms, by API and outcome."), metric.WithUnit("{request}"))
	add(err)
	in.rateLimited, err = m.Int64Counter("imbridge.rate_limited", metric.WithDescription("Pushes refused for the rate budget, by who refused: platform or client."), metric.WithUnit("{push}"))
	add(err)
	in.pacerWait, err = m.Float64Histogram("imbridge.pacer.wait", metric.WithDescription("Time a send waited for its rate budget, or would have had to when refused."), metric.WithUnit("s"))
	add(err)
	in.uploadBytes, err = m.Int64Counter("imbridge.upload.bytes", metric.WithDescription("Media bytes uploaded."), metric.WithUnit("By"))
	add(err)
	in.cacheLookups, err = m.Int64Counter("imbridge.media_cache.lookups", metric.WithDescription("Media items hosted, by whether an earlier upload was reused."), metric.WithUnit("{item}"))
	add(err)
	return in, errors.Join(errs...)
}
