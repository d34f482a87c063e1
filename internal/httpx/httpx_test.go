package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestWrittenSignal is the table of the one fact that decides whether a
// WeCom send may be retried: did the request certainly never leave?
func TestWrittenSignal(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: the dial fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	ln.Close()
	// A server that reads the request and hangs up without answering.
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(hangup.Close) // the subtests run after this function returns
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name        string
		hc          *http.Client
		url         string
		ctx         context.Context
		wantWritten bool
	}{
		{"net/http, dial refused", nil, "http://" + closedAddr + "/x", context.Background(), false},
		{"net/http, written then dropped", nil, hangup.URL + "/x", context.Background(), true},
		{"context done before sending", nil, hangup.URL + "/x", cancelled, false},
		{"no trace (HTTP/3, bridge): unknown means maybe", &http.Client{Transport: rtFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("stream reset")
		})}, "https://api.example.com/x", context.Background(), true},
		{"no trace, but a dial error is proof", &http.Client{Transport: rtFunc(func(*http.Request) (*http.Response, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		})}, "https://api.example.com/x", context.Background(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Post(tt.ctx, Client(tt.hc), tt.url, "application/json", strings.NewReader("{}"), 2)
			var he *Error
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tt.wantWritten, he.Written, "%v", err)
		})
	}
}

func TestRedirectsAreNeverFollowed(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	}))
	defer other.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		origin := httptest.NewServer(http.RedirectHandler(other.URL+"/cgi-bin/webhook/send?key=elsewhere", code))
		// The caller's own CheckRedirect does not bring following back.
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		resp, err := Post(context.Background(), Client(hc), origin.URL+"/cgi-bin/webhook/send?key=secret-key-123", "application/json", strings.NewReader("{}"), 2)
		origin.Close()
		require.NoError(t, err)
		assert.Equal(t, code, resp.Status)
	}
	assert.Zero(t, elsewhere.Load(), "a redirect was followed")
}

func TestClientReadsTheCallersTransportLate(t *testing.T) {
	t.Parallel()
	hc := &http.Client{}
	c := Client(hc)
	var used atomic.Bool
	// As httpmock.ActivateNonDefault(hc) does after the backend was built.
	hc.Transport = rtFunc(func(*http.Request) (*http.Response, error) {
		used.Store(true)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}}, nil
	})
	_, err := Post(context.Background(), c, "https://api.example.com/x", "application/json", strings.NewReader("{}"), 2)
	require.NoError(t, err)
	assert.True(t, used.Load())
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 0 ", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"-3", 0, false},
		{"99999999999999999", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		got, ok := RetryAfter(h, now)
		assert.Equal(t, tt.ok, ok, tt.v)
		assert.Equal(t, tt.want, got, tt.v)
	}
}
