package otelobserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/redact"
	"github.com/imbridge/middleware/otelobserver"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// rig is a Client with one WeCom and one TIM account on the emulators,
// observed into an in-memory span recorder and a manual metric reader.
type rig struct {
	c       *middleware.Client
	wc      *imtest.WeCom
	tim     *imtest.TIM
	spans   *tracetest.SpanRecorder
	reader  *sdkmetric.ManualReader
	secrets []string // every spelling of every secret of the rig
}

func newRig(t *testing.T, wecomOpts []imtest.WeComOption, botOpts ...wecom.Option) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	obs, err := otelobserver.New(otelobserver.WithTracerProvider(tp), otelobserver.WithMeterProvider(mp))
	require.NoError(t, err)
	r.wc = imtest.NewWeCom(wecomOpts...)
	t.Cleanup(r.wc.Close)
	r.tim = imtest.NewTIM()
	t.Cleanup(r.tim.Close)
	host := imtest.NewMediaHost()
	t.Cleanup(host.Close)
	bot, err := wecom.New(r.wc.Key, append([]wecom.Option{wecom.WithBaseURL(r.wc.URL), wecom.WithRetry(3, 0)}, botOpts...)...)
	require.NoError(t, err)
	now := time.Now().Truncate(time.Second)
	tc, err := timchat.New(timchat.Config{SDKAppID: r.tim.SDKAppID, SecretKey: r.tim.SecretKey, Admin: r.tim.Admin, BaseURL: r.tim.URL},
		timchat.WithUploader(host), timchat.WithRetry(3, 0), timchat.WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	sig, err := timchat.GenUserSig(r.tim.SDKAppID, r.tim.SecretKey, r.tim.Admin, now, timchat.DefaultSigTTL)
	require.NoError(t, err)
	for _, s := range []string{r.wc.Key, r.tim.SecretKey, sig} {
		r.secrets = append(r.secrets, redact.Spellings(s)...)
	}
	r.c, err = middleware.NewClient(middleware.WithObserver(obs),
		middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Backend: bot}),
		middleware.WithAccount(middleware.Account{ID: "tim-admin", IM: timchat.IM, Backend: tc}))
	require.NoError(t, err)
	t.Cleanup(func() { r.scan(t) })
	return r
}

// scan fails the test if any span name, attribute, event or status, or any
// metric attribute, holds a spelling of a secret.
func (r *rig) scan(t *testing.T) {
	t.Helper()
	var texts []string
	for _, s := range r.spans.Ended() {
		texts = append(texts, s.Name(), s.Status().Description)
		texts = append(texts, attrTexts(s.Attributes())...)
		for _, e := range s.Events() {
			texts = append(texts, e.Name)
			texts = append(texts, attrTexts(e.Attributes)...)
		}
	}
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			texts = append(texts, m.Name, m.Description)
			for _, set := range dataAttrs(m.Data) {
				texts = append(texts, attrTexts(set.ToSlice())...)
			}
		}
	}
	require.NotEmpty(t, texts)
	for _, text := range texts {
		for _, s := range r.secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret is recorded in %q", strings.ReplaceAll(text, s, "<SECRET>"))
			}
		}
	}
}

func attrTexts(kvs []attribute.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key), kv.Value.Emit())
	}
	return out
}

func dataAttrs(d metricdata.Aggregation) []attribute.Set {
	var out []attribute.Set
	switch d := d.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

// spansNamed returns the ended spans whose name starts with prefix.
func (r *rig) spansNamed(prefix string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if strings.HasPrefix(s.Name(), prefix) {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// counter returns the sum of a counter's points whose attributes hold all
// of want (key=value).
func (r *rig) counter(t *testing.T, name string, want ...string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is not an int64 sum", name)
		points:
			for _, p := range sum.DataPoints {
				for _, w := range want {
					k, v, _ := strings.Cut(w, "=")
					got, ok := p.Attributes.Value(attribute.Key(k))
					if !ok || got.Emit() != v {
						continue points
					}
				}
				total += p.Value
			}
		}
	}
	return total
}

func TestSuccessfulPush(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	n, err := r.c.Push(context.Background(), wecom.IM, "wrkGroup", "", "Daily", "all green")
	require.NoError(t, err)
	require.Equal(t, 1, n)

	push := r.spansNamed("push wecom")
	require.Len(t, push, 1)
	p := push[0]
	assert.Equal(t, codes.Unset, p.Status().Code)
	v, _ := attr(p, "imbridge.outcome")
	assert.Equal(t, "ok", v.AsString())
	v, _ = attr(p, "imbridge.account")
	assert.Equal(t, "ops", v.AsString())

	attempts := r.spansNamed("POST")
	require.Len(t, attempts, 1)
	a := attempts[0]
	assert.Equal(t, p.SpanContext().SpanID(), a.Parent().SpanID(), "the attempt is a child of the push")
	v, _ = attr(a, "http.request.method")
	assert.Equal(t, "POST", v.AsString())
	v, _ = attr(a, "server.address")
	assert.Equal(t, "127.0.0.1", v.AsString())
	v, _ = attr(a, "http.response.status_code")
	assert.Equal(t, int64(200), v.AsInt64())
	v, _ = attr(a, "imbridge.api")
	assert.Equal(t, "/cgi-bin/webhook/send", v.AsString())
	_, hasURL := attr(a, "url.full")
	assert.False(t, hasURL, "no url.full: the query holds the key")

	assert.Equal(t, int64(1), r.counter(t, "imbridge.pushes", "imbridge.im=wecom", "imbridge.outcome=ok"))
	assert.Equal(t, int64(1), r.counter(t, "imbridge.http.attempts", "imbridge.im=wecom", "imbridge.outcome=ok"))
}

// A TIM push retried on a transient code: one push span, two attempt
// spans, the second marked as a resend.
func TestRetriedTIMPush(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	r.tim.FailNext(1, 10002)
	_, err := r.c.Push(context.Background(), timchat.IM, "", "alice", "", "hello")
	require.NoError(t, err)
	require.Len(t, r.spansNamed("push tim"), 1)
	attempts := r.spansNamed("POST")
	require.Len(t, attempts, 2)
	v, _ := attr(attempts[0], "error.type")
	assert.Equal(t, "10002", v.AsString())
	assert.Equal(t, codes.Error, attempts[0].Status().Code)
	v, ok := attr(attempts[1], "http.request.resend_count")
	require.True(t, ok)
	assert.Equal(t, int64(1), v.AsInt64())
	assert.Equal(t, int64(1), r.counter(t, "imbridge.http.attempts", "imbridge.im=tim", "imbridge.outcome=10002"))
	assert.Equal(t, int64(1), r.counter(t, "imbridge.pushes", "imbridge.im=tim", "imbridge.outcome=ok"))
}

// WeCom's 45009 is counted as refused by the platform.
func TestPlatformRateLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	r.wc.FailNext(1, 45009)
	_, err := r.c.Push(context.Background(), wecom.IM, "g", "", "", "x")
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	p := r.spansNamed("push wecom")[0]
	assert.Equal(t, codes.Error, p.Status().Code)
	assert.Equal(t, "rate_limited", p.Status().Description, "the class, not the error's text")
	v, _ := attr(r.spansNamed("POST")[0], "imbridge.platform.code")
	assert.Equal(t, int64(45009), v.AsInt64())
	assert.Equal(t, int64(1), r.counter(t, "imbridge.rate_limited", "imbridge.refused_by=platform"))
	assert.Zero(t, r.counter(t, "imbridge.rate_limited", "imbridge.refused_by=client"))
}

// The pacer's refusal is counted as the client's, and its wait recorded.
func TestClientRateLimit(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, wecom.WithRateLimit(1))
	_, err := r.c.Push(context.Background(), wecom.IM, "g", "", "", "first")
	require.NoError(t, err)
	_, err = r.c.Push(context.Background(), wecom.IM, "g", "", "", "second", middleware.WithTimeout(time.Second))
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	assert.Equal(t, int64(1), r.counter(t, "imbridge.rate_limited", "imbridge.refused_by=client"))
	assert.Len(t, r.spansNamed("POST"), 1, "the refused push sent nothing")
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	var refusedWaits uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "imbridge.pacer.wait" {
				for _, p := range h.DataPoints {
					if v, _ := p.Attributes.Value("imbridge.refused"); v.AsBool() {
						refusedWaits += p.Count
						assert.Greater(t, p.Sum, 50.0, "it would have waited most of a minute")
					}
				}
			}
		}
	}
	assert.Equal(t, uint64(1), refusedWaits)
	events := r.spansNamed("push wecom")[1].Events()
	require.Len(t, events, 1)
	assert.Equal(t, "rate budget", events[0].Name)
}

// A mixed WeCom push that stops part-way: the text went, the image met
// the emulator's budget.
func TestPartialMixedPush(t *testing.T) {
	t.Parallel()
	r := newRig(t, []imtest.WeComOption{imtest.WithWeComRate(1)}, wecom.WithRateLimit(0))
	n, err := r.c.PushMixed(context.Background(), wecom.IM, "g", "", "", []middleware.Item{
		{Type: middleware.TextItem, Text: "chart:"},
		{Type: middleware.ImageItem, Data: testPNG(t)},
	})
	assert.Equal(t, 1, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	p := r.spansNamed("pushMixed wecom")[0]
	v, _ := attr(p, "imbridge.sent")
	assert.Equal(t, int64(1), v.AsInt64())
	v, _ = attr(p, "imbridge.items")
	assert.Equal(t, []string{"text", "image"}, v.AsStringSlice())
	attempts := r.spansNamed("POST")
	require.Len(t, attempts, 2)
	_, failed := attr(attempts[0], "error.type")
	assert.False(t, failed)
	v, _ = attr(attempts[1], "error.type")
	assert.Equal(t, "45009", v.AsString())
}

// The same file twice: uploaded once, then found in the media cache.
func TestUploadThenCacheHit(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	csv := "base64://" + base64.StdEncoding.EncodeToString([]byte("date,deploys\n2026-11-27,3\n"))
	for range 2 {
		_, err := r.c.PushFile(context.Background(), wecom.IM, "g", "", "", csv, middleware.WithFilename("daily.csv"))
		require.NoError(t, err)
	}
	assert.Equal(t, 1, r.wc.Uploads())
	assert.Equal(t, int64(1), r.counter(t, "imbridge.media_cache.lookups", "imbridge.media_cache.hit=false"))
	assert.Equal(t, int64(1), r.counter(t, "imbridge.media_cache.lookups", "imbridge.media_cache.hit=true"))
	assert.Equal(t, int64(len("date,deploys\n2026-11-27,3\n")), r.counter(t, "imbridge.upload.bytes", "imbridge.im=wecom"))
	for _, a := range r.spansNamed("POST") {
		v, _ := attr(a, "imbridge.api")
		assert.NotContains(t, v.AsString(), "?")
	}
}

// Failures that carry texts with names and URLs still record only classes.
func TestFailureTextsStayOut(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	_, err := r.c.PushFile(context.Background(), wecom.IM, "g", "", "", "/no/such/secret-plan.pdf")
	require.Error(t, err)
	for _, s := range r.spans.Ended() {
		assert.NotContains(t, s.Status().Description, "secret-plan")
		for _, text := range attrTexts(s.Attributes()) {
			assert.NotContains(t, text, "secret-plan")
		}
	}
	assert.Equal(t, int64(1), r.counter(t, "imbridge.pushes", "imbridge.outcome=invalid_item"))
}

func testPNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 2, 2))))
	return buf.Bytes()
}

// Without providers, New takes the global ones. Not parallel: it sets them.
func TestGlobalProviders(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	prevT, prevM := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetTracerProvider(prevT); otel.SetMeterProvider(prevM) })
	obs, err := otelobserver.New()
	require.NoError(t, err)
	wc := imtest.NewWeCom()
	t.Cleanup(wc.Close)
	bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithObserver(obs), middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Backend: bot}))
	require.NoError(t, err)
	_, err = c.Push(context.Background(), wecom.IM, "g", "", "", "x")
	require.NoError(t, err)
	assert.Len(t, spans.Ended(), 2, "the push and its attempt")
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	assert.NotEmpty(t, rm.ScopeMetrics)
}
