package timchat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
)

// timServer is a loopback TIM whose handler sees each request; it counts
// them and registers the usersigs it saw with the secret scan.
func timServer(t *testing.T, handle func(n int32, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scan.Secret(r.URL.Query().Get("usersig"))
		_, _ = io.Copy(io.Discard, r.Body)
		handle(n.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func overServer(t *testing.T, base string, opts ...Option) (*Client, *middleware.Client) {
	t.Helper()
	c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator", BaseURL: base},
		append([]Option{WithRetry(3, 0)}, opts...)...)
	require.NoError(t, err)
	mc, err := middleware.NewClient(middleware.WithLogger(scan.Logger()),
		middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Default: true, Backend: scan.Wrap(c)}))
	require.NoError(t, err)
	return c, mc
}

const ok = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

func TestRedirectIsRefused(t *testing.T) {
	t.Parallel()
	_, got := timServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(ok)) })
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got.Add(1)
		_, _ = w.Write([]byte(ok))
	}))
	t.Cleanup(elsewhere.Close)
	origin, asked := timServer(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	_, mc := overServer(t, origin.URL)
	n, err := mc.Push(bg, "tim", "", "u1", "", "hello")
	assert.Zero(t, n)
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 307, api.HTTPStatus)
	assert.Zero(t, api.Code)
	assert.NotErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Equal(t, int32(1), asked.Load(), "not retried")
	assert.Zero(t, got.Load(), "the redirect was followed")
}

// A gateway that echoes the request URI: the live usersig, raw or
// query-escaped ('*' is %2A), reaches no error and no log record.
func TestEchoedUserSigMasked(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	srv, _ := timServer(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
		sig := r.URL.Query().Get("usersig")
		seen.Store(sig)
		fmt.Fprintf(w, `{"ActionStatus":"FAIL","ErrorCode":70003,"ErrorInfo":"bad request %s raw %s"}`, r.URL.RequestURI(), sig)
	})
	// A signing time whose usersig has a '*', which query escaping turns
	// into %2A: found, not assumed (the signature depends on the time).
	at := fixedNow
	for {
		sig, err := GenUserSig(testAppID, testSecret, "administrator", at, DefaultSigTTL)
		require.NoError(t, err)
		if strings.Contains(sig, "*") {
			break
		}
		at = at.Add(time.Second)
	}
	_, mc := overServer(t, srv.URL, WithClock(func() time.Time { return at }))
	_, err := mc.Push(bg, "tim", "", "u1", "", "hello")
	require.Error(t, err)
	sig := seen.Load().(string)
	require.Contains(t, url.QueryEscape(sig), "%2A", "the signature must have a '*' for this test to mean anything")
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
		assert.NotContains(t, text, sig)
		assert.NotContains(t, text, url.QueryEscape(sig))
	}
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Contains(t, api.Message, "REDACTED")
}

// The broadcast spacing honours ctx: a push with a short deadline does not
// wait behind a slow broadcast (a lock once made it wait 2.8 s past a
// 200 ms deadline); its slot is past the deadline, so it is refused at
// once, unsent.
func TestBroadcastSpacingHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var once sync.Once
	srv, asked := timServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-release // the first broadcast is slow
		}
		_, _ = w.Write([]byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"TaskId":"t"}`))
	})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	_, mc := overServer(t, srv.URL)
	first := make(chan error, 1)
	go func() {
		_, err := mc.Push(bg, "tim", "", "", "", "slow", Broadcast(nil), middleware.WithTimeout(time.Minute))
		first <- err
	}()
	require.Eventually(t, func() bool { return asked.Load() == 1 }, 5*time.Second, time.Millisecond)
	_, err := mc.Push(bg, "tim", "", "", "", "in a hurry", Broadcast(nil), middleware.WithTimeout(100*time.Millisecond))
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "refused at once, not by running into the deadline")
	assert.Equal(t, int32(1), asked.Load(), "the hurried push was not sent")
	once.Do(func() { close(release) })
	require.NoError(t, <-first)
}

// HTTP 429 with Retry-After: TIM deduplicates, so it is retried, but not
// before Retry-After, and not when that would pass the deadline.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	var times []time.Time
	var mu sync.Mutex
	srv, asked := timServer(t, func(n int32, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(ok))
	})
	_, mc := overServer(t, srv.URL)
	n, err := mc.Push(bg, "tim", "", "u1", "", "hello")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Equal(t, int32(2), asked.Load())
	mu.Lock()
	gap := times[1].Sub(times[0])
	mu.Unlock()
	assert.GreaterOrEqual(t, gap, time.Second, "the retry came before Retry-After")

	// Retry-After past the deadline: refused at once, with the delay.
	slow, asked2 := timServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, mc = overServer(t, slow.URL)
	_, err = mc.Push(bg, "tim", "", "u1", "", "hello", middleware.WithTimeout(2*time.Second))
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 30*time.Second, api.RetryAfter)
	assert.Equal(t, 503, api.HTTPStatus)
	assert.Equal(t, int32(1), asked2.Load())
}

func TestOtherHTTPStatuses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status   int
		maybe    bool
		attempts int32
	}{
		{404, false, 1}, // a wrong base URL: not delivered, not retried
		{502, true, 3},  // a gateway: retried (TIM deduplicates), and may have arrived
	} {
		srv, asked := timServer(t, func(_ int32, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte("<html>nope</html>"))
		})
		_, mc := overServer(t, srv.URL)
		_, err := mc.Push(bg, "tim", "", "u1", "", "hello")
		var api *middleware.APIError
		require.ErrorAs(t, err, &api)
		assert.Equal(t, tt.status, api.HTTPStatus)
		assert.Zero(t, api.Code)
		assert.Equal(t, tt.maybe, errors.Is(err, middleware.ErrMaybeDelivered), "HTTP %d", tt.status)
		assert.Equal(t, tt.attempts, asked.Load(), "HTTP %d", tt.status)
	}
}

// Two groups: one request may have arrived, the other surely failed. The
// count is 0, and the caller can tell which is which.
func TestTargetFailureSaysMaybeDelivered(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if strings.Contains(string(body), `"GroupId":"g1"`) {
			resp, err := m.mt.RoundTrip(r)
			if err == nil {
				resp.Body.Close()
			}
			return nil, errors.New("stream reset") // no httptrace: it may have arrived
		}
		return httpResponse(`{"ActionStatus":"FAIL","ErrorCode":10010,"ErrorInfo":"group does not exist"}`), nil
	})
	_, mc := newBackend(t, m, WithHTTPClient(&http.Client{Transport: rt}))
	n, err := mc.Push(bg, "tim", "g1|g2", "", "", "hello")
	assert.Zero(t, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.FailedTargets, 2)
	assert.Equal(t, middleware.TargetFailure{ID: "g1", Code: -1, MaybeDelivered: true}, pe.FailedTargets[0])
	assert.Equal(t, middleware.TargetFailure{ID: "g2", Code: 10010}, pe.FailedTargets[1])
	assert.ErrorIs(t, err, middleware.ErrMaybeDelivered, "the error says the worse of the two")
	assert.Contains(t, err.Error(), "g1 (-1, may have been delivered)")
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func httpResponse(body string) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
}

// A video thumbnail is a source like any other: under UntrustedSources a
// local path is refused before anything is sent.
func TestThumbnailFollowsTheSourcePolicy(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m, WithUploader(nopUploader{}))
	_, err := mc.PushVideo(bg, "tim", "", "u1", "", "https://cdn.example.com/v.mp4",
		Thumbnail("/etc/hostname"), middleware.WithSourcePolicy(middleware.UntrustedSources))
	require.ErrorIs(t, err, middleware.ErrInvalidItem)
	assert.Contains(t, err.Error(), "source policy")
	assert.Empty(t, m.requests())
}

type nopUploader struct{}

func (nopUploader) Upload(context.Context, io.Reader, UploadMeta) (string, error) {
	return "https://cdn.example.com/x", nil
}

// noCtx is the nil context a careless caller passes.
var noCtx context.Context

func TestNilContext(t *testing.T) {
	t.Parallel()
	c, _ := newBackend(t, newMock(t))
	n, err := c.Send(noCtx, &middleware.Message{IM: "tim", UserID: "u1", Items: []middleware.Item{{Type: middleware.TextItem, Text: "x"}}})
	assert.Zero(t, n)
	require.Error(t, err)
}

// A transport whose error text echoes the presigned PUT URL: its query, a
// credential of the object store, is masked.
func TestPresignedQueryMasked(t *testing.T) {
	t.Parallel()
	echo := &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxy refused %s", r.URL)
	})}
	up := NewPresignedPutUploader(func(context.Context, UploadMeta) (string, string, error) {
		return "https://store.example.com/x?X-Sig=SECRET-SIGNATURE-42", "https://cdn.example.com/x", nil
	}, echo)
	_, err := up.Upload(bg, strings.NewReader("hello"), UploadMeta{Name: "x.txt", Size: 5})
	require.Error(t, err)
	for e := range chainOf(err) {
		assert.NotContains(t, e.Error(), "SECRET-SIGNATURE-42", "%T", e)
	}
}

func chainOf(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		stack := []error{err}
		for len(stack) > 0 {
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if e == nil || !yield(e) {
				continue
			}
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				stack = append(stack, u.Unwrap())
			case interface{ Unwrap() []error }:
				stack = append(stack, u.Unwrap()...)
			}
		}
	}
}

// One spelling of the platform: the IM users register is the Backend of
// its errors.
func TestIMName(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	m.answer("openim/sendmsg", `{"ActionStatus":"FAIL","ErrorCode":20003,"ErrorInfo":"invalid To_Account"}`)
	_, mc := newBackend(t, m)
	_, err := mc.Push(bg, IM, "", "nobody", "", "x")
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, IM, api.Backend)
}

// The broadcast spacing is kept by the client: its refusal is a
// *LimitError, not a code TIM never sent.
func TestBroadcastRefusalIsTheClients(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator"}, WithHTTPClient(&http.Client{Transport: m.mt}))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "tim", IM: IM, Backend: c}))
	_, err = mc.Push(bg, IM, "", "", "", "one", Broadcast(nil))
	require.NoError(t, err)
	_, err = mc.Push(bg, IM, "", "", "", "two", Broadcast(nil), middleware.WithTimeout(300*time.Millisecond))
	var le *middleware.LimitError
	require.ErrorAs(t, err, &le)
	var api *middleware.APIError
	assert.False(t, errors.As(err, &api))
	d, ok := middleware.RetryAfter(err)
	assert.True(t, ok)
	assert.Greater(t, d, 300*time.Millisecond)
}
