// Package httpx holds the HTTP plumbing the backends and the Client share,
// on the standard library alone (it imports nothing of this module): one
// long-lived *http.Client per backend, bodies sent with an exact
// Content-Length and never copied, errors without URLs, and knowing
// whether a failed request was ever written.
//
// It is plain net/http. resty v2 was the first choice and was measured
// out: it copies any io.Reader body into memory to make it replayable (a
// 20 MB upload held twice), and its per-request bookkeeping cost a third
// of the SDK's throughput against a loopback server (see
// docs/dependencies.md).
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// defaultTransport looks up http.DefaultTransport at every request, so that
// httpmock.Activate in a user's test intercepts a backend built without
// WithHTTPClient, and HTTP(S)_PROXY is honoured.
type defaultTransport struct{}

func (defaultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return http.DefaultTransport.RoundTrip(r)
}

// callerTransport looks up the caller's client's Transport at every
// request, so httpmock.ActivateNonDefault(hc) works after the backend was
// built.
type callerTransport struct{ hc *http.Client }

func (t callerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt := t.hc.Transport; rt != nil {
		return rt.RoundTrip(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// noRedirect stops net/http from following a redirect: the answer comes
// back as it is.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Client returns the *http.Client of one backend's API calls: over hc's
// Transport (or http.DefaultTransport), with hc's Timeout, and never
// following a redirect, whatever hc's CheckRedirect says. A redirect would
// carry the secret query to another host in Referer and replay the body
// there. Build it once and share it; it is safe for concurrent use.
func Client(hc *http.Client) *http.Client {
	c := &http.Client{Transport: defaultTransport{}, CheckRedirect: noRedirect}
	if hc != nil {
		c.Transport, c.Timeout = callerTransport{hc}, hc.Timeout
	}
	return c
}

// Response is what came back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error is a request that got no answer. Written says whether the request
// may have reached the server: false only when the failure happened before
// any byte of it was written, so a retry cannot duplicate it.
type Error struct {
	Written bool
	Err     error
}

func (e *Error) Error() string {
	if e.Written {
		return fmt.Sprintf("request sent, no answer: %v", e.Err)
	}
	return fmt.Sprintf("request not sent: %v", e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// maxAnswer bounds how much of an answer is read: the platforms answer a
// few hundred bytes; anything far larger is not theirs.
const maxAnswer = 4 << 20

// Post sends body, of exactly length bytes, to u and reads the answer.
// Errors never contain u: callers put secrets in query strings.
func Post(ctx context.Context, hc *http.Client, u, contentType string, body io.Reader, length int64) (*Response, error) {
	return Do(ctx, hc, Request{Method: http.MethodPost, URL: u, ContentType: contentType, Body: body, Length: length})
}

// Request is one request of Do.
type Request struct {
	// Method and URL are the request's; errors never contain URL.
	Method, URL string
	// ContentType is the body's Content-Type header.
	ContentType string
	// Body holds exactly Length bytes, streamed as it is read: nothing
	// copies it.
	Body   io.Reader
	Length int64
	// Header holds extra headers; Do does not change it.
	Header http.Header
}

// Do sends r and reads the answer, as Post does.
func Do(ctx context.Context, hc *http.Client, r Request) (*Response, error) {
	u, body, length := r.URL, r.Body, r.Length
	if err := ctx.Err(); err != nil {
		return nil, &Error{Err: err}
	}
	// One object for both flags: the trace's closures share it.
	var st struct{ traced, wrote atomic.Bool }
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn:      func(string) { st.traced.Store(true) },
		WroteHeaders: func() { st.wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { st.wrote.Store(true) },
	})
	if length == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		return nil, &Error{Err: StripURL(err)}
	}
	req.ContentLength = length
	if len(r.Header) > 0 {
		req.Header = r.Header.Clone()
	}
	req.Header.Set("Content-Type", r.ContentType)
	resp, err := hc.Do(req)
	if err != nil {
		err = StripURL(err)
		return nil, &Error{Written: !provablyUnwritten(err, st.traced.Load(), st.wrote.Load()), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, &Error{Written: true, Err: StripURL(err)}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// provablyUnwritten reports whether a failed request certainly never left:
// a dial failure, or a transport that traces (net/http's: it announced
// GetConn) and never wrote the headers. A transport that does not trace
// (an HTTP/3 or bridging RoundTripper, httpmock) proves nothing, so its
// failures may have been written.
func provablyUnwritten(err error, traced, wrote bool) bool {
	return isDial(err) || (traced && !wrote)
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// StripURL drops the URL from a *url.Error, keeping the rest of the chain:
// callers put secrets in query strings. What the URL's secrets may still
// touch (a server's echo, a proxy's text) each backend masks at its
// exported boundary with internal/redact.
func StripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// RetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > maxRetryAfter {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// maxRetryAfter bounds a Retry-After in seconds (a day), so that a hostile
// value cannot overflow a Duration.
const maxRetryAfter = 86400

// Host is the host[:port] of base, for reports.
func Host(base string) string {
	if u, err := url.Parse(base); err == nil {
		return u.Host
	}
	return ""
}
