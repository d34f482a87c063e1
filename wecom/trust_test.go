package wecom

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
)

// counter is a loopback server that counts requests and answers with
// handle.
func counter(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func overServer(t *testing.T, base string, opts ...Option) *middleware.Client {
	t.Helper()
	w, err := New(testKey, append([]Option{WithBaseURL(base), WithRateLimit(0), WithRetry(3, 0)}, opts...)...)
	require.NoError(t, err)
	mc, err := middleware.NewClient(middleware.WithLogger(scan.Logger()),
		middleware.WithAccount(middleware.Account{ID: "bot", IM: IM, Default: true, Backend: scan.Wrap(w)}))
	require.NoError(t, err)
	return mc
}

// A 3xx is an error naming the status: never success, never retried, and
// never followed (Go would send Referer with the key and replay the body).
func TestRedirectIsRefused(t *testing.T) {
	t.Parallel()
	elsewhere, got := counter(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	})
	for _, code := range []int{302, 307, 308} {
		origin, asked := counter(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), code)
		})
		n, err := overServer(t, origin.URL).Push(bg, IM, "g", "", "", "deploy done")
		require.Error(t, err, "HTTP %d", code)
		assert.Zero(t, n)
		var api *middleware.APIError
		require.ErrorAs(t, err, &api)
		assert.Equal(t, code, api.HTTPStatus)
		assert.Zero(t, api.Code)
		assert.Contains(t, err.Error(), fmt.Sprint(code))
		assert.False(t, errors.Is(err, middleware.ErrMaybeDelivered), "a redirect delivered nothing")
		assert.Equal(t, int32(1), asked.Load(), "not retried")
	}
	assert.Zero(t, got.Load(), "the redirect was followed")
}

// The key is masked in every spelling the platform or a gateway could echo,
// in the whole error chain and in log records.
func TestEchoedKeyMaskedInEverySpelling(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString([]byte(testKey))
	srv, _ := counter(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"errcode":93000,"errmsg":"invalid webhook url %s (b64 %s)"}`, r.URL.RequestURI(), b64)
	})
	_, err := overServer(t, srv.URL).Push(bg, IM, "g", "", "", "x")
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.NotContains(t, api.Message, testKey)
	assert.NotContains(t, api.Message, b64)
	assert.Contains(t, api.Message, "REDACTED")
	assert.ErrorIs(t, err, middleware.ErrUnauthorized)
}

// A transport error whose text holds the URL: no error reachable through
// Unwrap may keep the key, and errors.Is still finds the deadline.
func TestKeyNotInTheChain(t *testing.T) {
	t.Parallel()
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy gave up on %s: %w", r.URL, context.DeadlineExceeded)
	})
	w, err := New(testKey, WithHTTPClient(&http.Client{Transport: rt}), WithRateLimit(0))
	require.NoError(t, err)
	_, err = w.SendNews(bg, Target{}, Article{Title: "t", URL: "https://example.com"})
	require.Error(t, err)
	scan.AddError(err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	for e := range chain(err) {
		assert.NotContains(t, e.Error(), testKey, "%T", e)
	}
}

func chain(err error) func(yield func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(error) bool
		walk = func(e error) bool {
			if e == nil {
				return true
			}
			if !yield(e) {
				return false
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				return walk(u.Unwrap())
			case interface{ Unwrap() []error }:
				for _, x := range u.Unwrap() {
					if !walk(x) {
						return false
					}
				}
			}
			return true
		}
		walk(err)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A RoundTripper without httptrace (HTTP/3, a bridge) that delivers the
// request and then fails: "no write signal" means "may have been written",
// so the send is not retried and says it may have been delivered.
func TestNoTraceMeansMaybeWritten(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := m.mt.RoundTrip(r) // the platform got it...
		if err == nil {
			resp.Body.Close()
		}
		return nil, errors.New("stream reset") // ...and the answer was lost
	})
	_, mc := newBackend(t, m, WithHTTPClient(&http.Client{Transport: rt}))
	n, err := mc.Push(bg, IM, "g", "", "", "processed once")
	assert.Zero(t, n)
	assert.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Len(t, m.typed(), 1, "a send that may have arrived was retried")
}

// A mixed push that fails part-way says whether the failed part may have
// arrived.
func TestPartialErrorSaysMaybeDelivered(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	var sends atomic.Int32
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/send") && sends.Add(1) == 2 {
			resp, err := m.mt.RoundTrip(r)
			if err == nil {
				resp.Body.Close()
			}
			return nil, errors.New("stream reset")
		}
		return m.mt.RoundTrip(r)
	})
	_, mc := newBackend(t, m, WithHTTPClient(&http.Client{Transport: rt}))
	n, err := mc.PushMixed(bg, IM, "g", "", "", []middleware.Item{
		{Type: middleware.TextItem, Text: "report"},
		{Type: middleware.FileItem, Source: "base64://" + base64.StdEncoding.EncodeToString([]byte("a,b\n1,2\n")), Name: "r.csv"},
	})
	assert.Equal(t, 1, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []int{0}, pe.DeliveredItems)
	assert.Equal(t, 1, pe.FailedItem)
	assert.True(t, pe.MaybeDelivered)
	assert.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Contains(t, err.Error(), "may have been delivered")
	assert.Len(t, m.typed(), 2)

	// A definite failure is not "maybe".
	m2 := newMock(t)
	m2.answer("send", `{"errcode":0,"errmsg":"ok"}`, `{"errcode":40058,"errmsg":"bad"}`)
	_, mc2 := newBackend(t, m2)
	_, err = mc2.PushMixed(bg, IM, "g", "", "", []middleware.Item{
		{Type: middleware.TextItem, Text: "report"},
		{Type: middleware.FileItem, Source: "base64://" + base64.StdEncoding.EncodeToString([]byte("a,b\n1,2\n")), Name: "r.csv"},
	})
	require.ErrorAs(t, err, &pe)
	assert.False(t, pe.MaybeDelivered)
}

func TestHTTPStatusesThatAreNotWeCom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		header    http.Header
		kind      error
		notKind   error
		wantAfter time.Duration
	}{
		{"429 with seconds", 429, http.Header{"Retry-After": {"7"}}, middleware.ErrRateLimited, middleware.ErrMaybeDelivered, 7 * time.Second},
		{"503 with a date", 503, http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}, middleware.ErrRateLimited, middleware.ErrMaybeDelivered, time.Hour},
		{"404 from a wrong base URL", 404, nil, nil, middleware.ErrMaybeDelivered, 0},
		{"502 from a gateway", 502, nil, middleware.ErrMaybeDelivered, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, asked := counter(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte("<html>not here</html>"))
			})
			n, err := overServer(t, srv.URL).Push(bg, IM, "g", "", "", "x")
			assert.Zero(t, n)
			var api *middleware.APIError
			require.ErrorAs(t, err, &api)
			assert.Equal(t, tt.status, api.HTTPStatus)
			assert.Zero(t, api.Code, "the HTTP status is not a WeCom code")
			if tt.kind != nil {
				assert.ErrorIs(t, err, tt.kind)
			}
			if tt.notKind != nil {
				assert.NotErrorIs(t, err, tt.notKind)
			}
			if tt.wantAfter > 0 {
				assert.InDelta(t, tt.wantAfter.Seconds(), api.RetryAfter.Seconds(), 2)
			}
			assert.Equal(t, int32(1), asked.Load(), "WeCom sends are not retried on HTTP errors")
		})
	}
}

// A pacer wait that is cancelled hands its slot back: the next sender may
// use it at once.
func TestCancelledPacerWaitReturnsItsSlot(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	m := newMock(t)
	w, mc := newBackend(t, m, WithRateLimit(2), WithClock(clock))
	for i := range 2 {
		_, err := mc.Push(bg, IM, "g", "", "", fmt.Sprint("now ", i))
		require.NoError(t, err)
	}
	// The third waits for the next window (a minute on the fake clock)
	// and is cancelled while it waits.
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() {
		_, err := mc.Push(ctx, IM, "g", "", "", "cancelled", middleware.WithTimeout(time.Hour))
		done <- err
	}()
	chat := w.pace.budgets("g")[0].Key
	booked := w.limiter.(*middleware.MemoryLimiter).Booked
	require.Eventually(t, func() bool { return booked(chat) == 3 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// A window later (a minute and its jitter margin) both slots are free.
	now.Add(int64(time.Minute + time.Minute/jitterMargin))
	for i := range 2 {
		_, err := mc.Push(bg, IM, "g", "", "", fmt.Sprint("next window ", i), middleware.WithTimeout(time.Second))
		require.NoError(t, err, "slot %d of the new window", i)
	}
	assert.Len(t, m.typed(), 4)
}

// TestPacerKeepsAJitterMargin: the pacer counts a window 5% longer than
// WeCom's, so that a message slowed on its way does not land in the same
// window as one sent a window after it.
func TestPacerKeepsAJitterMargin(t *testing.T) {
	t.Parallel()
	w, _ := newBackend(t, newMock(t), WithRateLimit(2), WithRateWindow(time.Minute))
	for _, b := range w.pace.budgets("a|b") {
		assert.Equal(t, 63*time.Second, b.Window, b.Key)
	}
}

// noCtx is the nil context a careless caller passes.
var noCtx context.Context

func TestInputHygiene(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	w, mc := newBackend(t, m)
	gbk := "\xc4\xe3\xba\xc3" // 你好 in GBK
	tests := []struct {
		name string
		push func() (int, error)
		want error
	}{
		{"nil context", func() (int, error) { return mc.Push(noCtx, IM, "g", "", "", "x") }, nil},
		{"GBK text", func() (int, error) { return mc.Push(bg, IM, "g", "", "", gbk) }, middleware.ErrInvalidItem},
		{"GBK title as text", func() (int, error) { return mc.Push(bg, IM, "g", "", gbk, "") }, middleware.ErrInvalidItem},
		{"GBK group id", func() (int, error) { return mc.Push(bg, IM, "g"+gbk, "", "", "x") }, middleware.ErrInvalidTarget},
		{"GBK user id", func() (int, error) { return mc.Push(bg, IM, "", "u"+gbk, "", "x") }, middleware.ErrInvalidTarget},
		{"NUL in a file name", func() (int, error) {
			return mc.PushFile(bg, IM, "g", "", "", "base64://aGVsbG8gd29ybGQ=", middleware.WithFilename("a\x00b.txt"))
		}, middleware.ErrInvalidItem},
		{"LF in an item name", func() (int, error) {
			return mc.PushMixed(bg, IM, "g", "", "", []middleware.Item{{Type: middleware.FileItem, Source: "base64://aGVsbG8gd29ybGQ=", Name: "a\nb.txt"}})
		}, middleware.ErrInvalidItem},
		{"nil context, typed send", func() (int, error) { return w.SendNews(noCtx, Target{}, Article{Title: "t", URL: "u"}) }, nil},
		{"GBK news title", func() (int, error) { return w.SendNews(bg, Target{}, Article{Title: gbk, URL: "u"}) }, middleware.ErrInvalidItem},
		{"GBK chat id", func() (int, error) {
			return w.SendNews(bg, Target{ChatIDs: []string{gbk}}, Article{Title: "t", URL: "u"})
		}, middleware.ErrInvalidTarget},
	}
	for _, tt := range tests {
		n, err := tt.push()
		require.Error(t, err, tt.name)
		assert.Zero(t, n, tt.name)
		if tt.want != nil {
			assert.ErrorIs(t, err, tt.want, tt.name)
		}
	}
	assert.Empty(t, m.requests(), "nothing was sent")
}

// Names the SDK finds (a URL's path, a server's Content-Disposition) lose
// their control characters before they reach a multipart header.
func TestControlCharactersNeverReachAHeader(t *testing.T) {
	t.Parallel()
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 2231 smuggles a control character past net/http's header check.
		w.Header().Set("Content-Disposition", "attachment; filename*=UTF-8''re%01port.txt")
		_, _ = w.Write([]byte("plain text body"))
	}))
	t.Cleanup(media.Close)
	m := newMock(t)
	_, mc := newBackend(t, m)
	_, err := mc.PushFile(bg, IM, "g", "", "", media.URL+"/a%00b%0D%0A.txt")
	require.NoError(t, err)
	up := m.requests()[0]
	head, _, _ := strings.Cut(string(up.Body), "\r\n\r\n")
	for _, c := range []string{"\x00", "\x01", "\r\nX"} {
		assert.NotContains(t, strings.TrimSuffix(head, "\r\n"), c)
	}
	assert.Contains(t, head, `filename="report.txt"`)
}

func TestWebhookURLMustBeHTTPS(t *testing.T) {
	t.Parallel()
	_, err := New("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + testKey)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unencrypted")
	assert.NotContains(t, err.Error(), testKey)

	_, err = New("http://127.0.0.1:8080/cgi-bin/webhook/send?key="+testKey, WithBaseURL("http://127.0.0.1:8080"))
	assert.NoError(t, err, "an explicit WithBaseURL names a test server or a gateway")

	_, err = New("qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + testKey)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no scheme")
	assert.NotContains(t, err.Error(), testKey)
}
