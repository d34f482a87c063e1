package wecom

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
)

func TestErrcodeMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code  int
		want  error
		calls int // requests made: retryable codes use every attempt
	}{
		{-1, nil, 3},
		{45033, middleware.ErrRateLimited, 3},
		{45009, middleware.ErrRateLimited, 1},
		{93000, middleware.ErrUnauthorized, 1},
		{93004, middleware.ErrAccountOffline, 1},
		{93008, middleware.ErrInvalidTarget, 1},
		{40058, middleware.ErrTooLarge, 1},
		{45002, middleware.ErrTooLarge, 1},
		{93005, middleware.ErrInvalidTarget, 1},
		{93006, middleware.ErrInvalidTarget, 1},
		{40008, middleware.ErrInvalidItem, 1},
		{12345, nil, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			t.Parallel()
			m := newMock(t)
			_, mc := newBackend(t, m)
			for range 3 {
				// The platform's text may echo the webhook URL: it is
				// scrubbed, and the suite's secret scan checks the rest.
				m.answer("send", fmt.Sprintf(`{"errcode":%d,"errmsg":"nope, key=%s"}`, tt.code, testKey))
			}
			n, err := mc.Push(bg, "wecom", "g", "", "", "x")
			assert.Zero(t, n)
			var api *middleware.APIError
			require.ErrorAs(t, err, &api)
			assert.Equal(t, tt.code, api.Code)
			assert.Equal(t, "nope, key=REDACTED", api.Message)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			} else {
				assert.Nil(t, api.Unwrap())
			}
			if tt.code == 45009 {
				assert.Equal(t, time.Minute, api.RetryAfter)
			}
			assert.Equal(t, tt.calls, m.mt.GetTotalCallCount(), "no hidden retry")
		})
	}
}

func TestRetryRecovers(t *testing.T) {
	t.Parallel()
	for _, code := range []int{-1, 45033} {
		m := newMock(t)
		_, mc := newBackend(t, m)
		m.answer("send", fmt.Sprintf(`{"errcode":%d,"errmsg":"busy"}`, code))
		n, err := mc.Push(bg, "wecom", "g", "", "", "x")
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, 2, m.mt.GetTotalCallCount())
	}
}

func TestUnreadableAnswers(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "{", `{"errmsg":"ok"}`, "<html>bad gateway</html>", `{"errcode":0`} {
		m := newMock(t)
		_, mc := newBackend(t, m)
		m.answer("send", body)
		n, err := mc.Push(bg, "wecom", "g", "", "", "x")
		require.ErrorIs(t, err, middleware.ErrMaybeDelivered, "body %q", body)
		assert.Zero(t, n, "never counted as delivered")
		assert.Equal(t, 1, m.mt.GetTotalCallCount(), "not retried: it may have arrived")
	}
}

// refusingTransport fails without writing anything, as a dial error does.
type refusingTransport struct {
	calls atomic.Int32
	next  http.RoundTripper
	fails int32
}

func (r *refusingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.calls.Add(1) <= r.fails {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	return r.next.RoundTrip(req)
}

func TestRetryBeforeWrite(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	rt := &refusingTransport{next: m.mt, fails: 2}
	w, err := New(testKey, WithHTTPClient(&http.Client{Transport: rt}), WithRateLimit(0), WithRetry(3, time.Millisecond))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	n, err := mc.Push(bg, "wecom", "g", "", "", "x")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, int32(3), rt.calls.Load())
	assert.Equal(t, 1, m.mt.GetTotalCallCount(), "exactly one request reached the server")
}

// TestAmbiguousNotRetried reads the whole request, then drops the
// connection: the message may have arrived, so it must not be resent.
func TestAmbiguousNotRetried(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				_, _ = io.Copy(io.Discard, req.Body)
				got.Add(1)
			}
			conn.Close()
		}
	}()
	w, err := New(testKey, WithBaseURL("http://"+ln.Addr().String()), WithRateLimit(0), WithRetry(3, 0))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	n, err := mc.Push(bg, "wecom", "g", "", "", "x")
	require.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Zero(t, n)
	assert.Equal(t, int32(1), got.Load())
	assert.NotContains(t, err.Error(), testKey)
}

func TestRateLimitDeadline(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m, WithRateLimit(1))
	_, err := mc.Push(bg, "wecom", "g", "", "", "first")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	n, err := mc.Push(ctx, "wecom", "g", "", "", "second", middleware.WithTimeout(time.Second))
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "refused at once, not by running into the deadline")
	var api *middleware.APIError
	require.False(t, errors.As(err, &api), "WeCom said nothing: not an *APIError")
	var le *middleware.LimitError
	require.ErrorAs(t, err, &le)
	wait, ok := middleware.RetryAfter(err)
	require.True(t, ok)
	assert.Greater(t, wait, 58*time.Second)
	assert.Zero(t, n)
	assert.Equal(t, 1, m.mt.GetTotalCallCount(), "the second push sent nothing")
}

// The bot's budget holds across chats, and a refusal it causes names it:
// every chat below has room.
func TestBotBudgetSpansChats(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m, WithRateLimit(5), WithBotRateLimit(2))
	for _, chat := range []string{"a", "b"} {
		_, err := mc.Push(bg, "wecom", chat, "", "", "x")
		require.NoError(t, err)
	}
	n, err := mc.Push(bg, "wecom", "c", "", "", "x")
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	var le *middleware.LimitError
	require.ErrorAs(t, err, &le)
	assert.Contains(t, le.Reason, "2 per bot")
	assert.Zero(t, n)
	assert.Equal(t, 2, m.mt.GetTotalCallCount(), "the third chat's push sent nothing")
}

func TestWindowWaitOnlyIfDeadlineAllows(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	m.answer("send", `{"errcode":45009,"errmsg":"api freq out of limit"}`)
	_, err := mc.Push(bg, "wecom", "g", "", "", "x") // default 5 s < 60 s window
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "returned at once instead of waiting into the deadline")
	assert.Equal(t, 1, m.mt.GetTotalCallCount())
}

// A client on a shortened window (WithRateWindow, as against an emulator
// with one) waits that window out after a 45009, not WeCom's minute, and
// says so in RetryAfter.
func TestWindowWaitFollowsWithRateWindow(t *testing.T) {
	t.Parallel()
	const window = 200 * time.Millisecond
	m := newMock(t)
	_, mc := newBackend(t, m, WithRateWindow(window))
	m.answer("send", `{"errcode":45009,"errmsg":"api freq out of limit"}`)
	n, err := mc.Push(bg, "wecom", "g", "", "", "x")
	require.NoError(t, err, "the 200 ms window fits the 5 s deadline: waited out and sent again")
	assert.Equal(t, 1, n)
	assert.Equal(t, 2, m.mt.GetTotalCallCount())

	// Waited out once; the second 45009 is final, and names the window.
	m.answer("send", `{"errcode":45009,"errmsg":"api freq out of limit"}`)
	m.answer("send", `{"errcode":45009,"errmsg":"api freq out of limit"}`)
	_, err = mc.Push(bg, "wecom", "g", "", "", "y")
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, window, api.RetryAfter)
	d, ok := middleware.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, window, d)
	assert.Equal(t, 4, m.mt.GetTotalCallCount())
}

func TestMediaCacheAndExpiry(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, mc := newBackend(t, m, WithClock(clock))
	src := "base64://" + base64.StdEncoding.EncodeToString([]byte("a,b\n1,2\n3,4\n"))
	push := func() {
		_, err := mc.PushFile(bg, "wecom", "g", "", "", src, middleware.WithFilename("r.csv"))
		require.NoError(t, err)
	}
	uploads := func() int {
		n := 0
		for _, r := range m.requests() {
			if strings.Contains(r.Path, "upload") {
				n++
			}
		}
		return n
	}
	push()
	push()
	assert.Equal(t, 1, uploads(), "same content, same name: reused")
	_, err := mc.PushFile(bg, "wecom", "g", "", "", src, middleware.WithFilename("other.csv"))
	require.NoError(t, err)
	assert.Equal(t, 2, uploads(), "another display name needs its own media_id")
	mu.Lock()
	now = now.Add(MediaTTL - CacheMargin)
	mu.Unlock()
	push()
	assert.Equal(t, 3, uploads(), "near expiry: uploaded again")

	// 40007: WeCom forgot the id; upload again once and resend.
	m.answer("send", `{"errcode":40007,"errmsg":"invalid media_id"}`)
	push()
	assert.Equal(t, 4, uploads())
	s := m.typed()
	assert.Equal(t, "MEDIA4", s[len(s)-1].File.MediaID)
}

func TestMixedPartialDelivery(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	m.answer("upload", `{"errcode":40004,"errmsg":"invalid media type"}`)
	items := []middleware.Item{
		{Type: middleware.TextItem, Text: "Result:"},
		{Type: middleware.MarkdownItem, Text: "**all green**"},
		{Type: middleware.ImageItem, Data: testPNG(t, 2, 2)},
		{Type: middleware.FileItem, Data: []byte("report body"), Name: "r.txt"},
		{Type: middleware.TextItem, Text: "bye"},
	}
	n, err := mc.PushMixed(bg, "wecom", "g", "", "", items)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 1, n, "the group got part of it")
	assert.Equal(t, []int{0, 1, 2}, pe.DeliveredItems)
	assert.Equal(t, 3, pe.FailedItem)
	assert.Equal(t, 2, pe.SentParts)
	require.ErrorIs(t, err, middleware.ErrInvalidItem)
	s := m.typed()
	require.Len(t, s, 2)
	assert.Equal(t, "Result:\n\n**all green**", s[0].Markdown.Content, "consecutive text joined into one markdown")
	assert.Equal(t, "image", s[1].MsgType)
}

func TestIdenticalBodiesNeverConcurrent(t *testing.T) {
	t.Parallel()
	var cur, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := cur.Add(1); c > peak.Load() {
			peak.Store(c)
		}
		time.Sleep(20 * time.Millisecond)
		cur.Add(-1)
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	w, err := New(testKey, WithBaseURL(srv.URL), WithRateLimit(0))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := mc.Push(bg, "wecom", "g", "", "", "same body")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), peak.Load())
}

// TestKeyNeverLeaks drives every error path and looks for the key in
// errors, log records and formatted clients.
func TestKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	var errs []string
	collect := func(_ int, err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	setup := func(rt http.RoundTripper, opts ...Option) *middleware.Client {
		w, err := New(DefaultBaseURL+"/cgi-bin/webhook/send?key="+testKey, append([]Option{WithHTTPClient(&http.Client{Transport: rt}), WithRateLimit(0), WithRetry(2, 0)}, opts...)...)
		require.NoError(t, err)
		errs = append(errs, fmt.Sprint(w), fmt.Sprintf("%v %+v %#v %s", w, w, w, w))
		logger.Info("client", "backend", w)
		mc, err := middleware.NewClient(middleware.WithLogger(logger), middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
		require.NoError(t, err)
		return mc
	}
	// Transport errors, before and after writing.
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(httpmock.NewErrorResponder(errors.New("boom")))
	collect(setup(mt).Push(bg, "wecom", "g", "", "", "x"))
	// A real dropped connection: *url.Error carries the URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close()
	}))
	defer srv.Close()
	w, _ := New(testKey, WithBaseURL(srv.URL), WithRateLimit(0))
	mc, _ := middleware.NewClient(middleware.WithLogger(logger), middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	collect(mc.Push(bg, "wecom", "g", "", "", "x"))
	collect(mc.PushFile(bg, "wecom", "g", "", "", "base64://"+base64.StdEncoding.EncodeToString([]byte("file body"))))
	// Timeout.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }))
	defer slow.Close()
	w, _ = New(testKey, WithBaseURL(slow.URL), WithRateLimit(0))
	mc, _ = middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	collect(mc.Push(bg, "wecom", "g", "", "", "x", middleware.WithTimeout(50*time.Millisecond)))
	// Every errcode class, malformed JSON, upload failure.
	for _, body := range []string{`{"errcode":-1,"errmsg":"busy"}`, `{"errcode":45009,"errmsg":"freq"}`, `{"errcode":93000,"errmsg":"invalid webhook url, key=` + testKey + `"}`,
		`{"errcode":40058,"errmsg":"x"}`, `{"errcode":93006,"errmsg":"x"}`, `{`, ``} {
		m := newMock(t)
		m.answer("send", body, body, body)
		m.answer("upload", body, body, body)
		mc := setup(m.mt)
		collect(mc.Push(bg, "wecom", "g", "", "", "x"))
		collect(mc.PushFile(bg, "wecom", "g", "", "", "base64://"+base64.StdEncoding.EncodeToString([]byte("file body"))))
	}
	// Construction errors.
	for _, bad := range []string{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?nokey=" + testKey, "ftp://x/cgi-bin/webhook/send?key=" + testKey, testKey + " junk", "https://x/other?key=" + testKey} {
		_, err := New(bad)
		require.Error(t, err)
		errs = append(errs, err.Error())
	}
	require.NotEmpty(t, errs)
	all := strings.Join(errs, "\n") + logs.String()
	assert.NotContains(t, all, testKey)
	assert.NotContains(t, all, "693a91f6", "not even part of the key")
	assert.Contains(t, all, "REDACTED", "the platform's own echo of the key was scrubbed")
}

// TestHTTPMockActivate shows how users test bot code: with no
// WithHTTPClient, httpmock.Activate intercepts this backend. Not parallel:
// it swaps http.DefaultTransport.
func TestHTTPMockActivate(t *testing.T) {
	httpmock.Activate(t)
	httpmock.RegisterResponder("POST", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
		httpmock.NewStringResponder(200, `{"errcode":0,"errmsg":"ok"}`))
	w, err := New(testKey)
	require.NoError(t, err)
	mc, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	require.NoError(t, err)
	n, err := mc.Push(context.Background(), "wecom", "", "", "", "hello from a unit test")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, httpmock.GetTotalCallCount())
}

func TestOptionsRefuseNonsense(t *testing.T) {
	t.Parallel()
	for _, o := range []Option{WithRetry(0, time.Second), WithRetry(1, -time.Second), WithRateLimit(-1), WithClock(nil), WithBaseURL("ftp://x")} {
		_, err := New(testKey, o)
		require.Error(t, err)
	}
	_, err := New(testKey, WithRetry(1, 0), WithRateLimit(0), WithMediaCache(nil))
	require.NoError(t, err)
}
