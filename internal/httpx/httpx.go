// Package httpx holds the HTTP plumbing both backends share: one
// long-lived *http.Client per backend, bodies sent with an exact
// Content-Length and never copied, errors without URLs, and knowing
// whether a failed request was ever written.
//
// It is plain net/http. resty v2 was the first choice and was measured
// out: it copies any io.Reader body into memory to make it replayable (a
// 20 MB upload held twice), and its per-request bookkeeping cost a third
// of the SDK's throughput against a loopback server (see README,
// "Benchmarks").
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
	"strings"
	"sync/atomic"
)

// defaultTransport looks up http.DefaultTransport at every request, so that
// httpmock.Activate in a user's test intercepts a backend built without
// WithHTTPClient, and HTTP(S)_PROXY is honoured.
type defaultTransport struct{}

func (defaultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return http.DefaultTransport.RoundTrip(r)
}

// Client returns the *http.Client of one backend: hc, or one over
// http.DefaultTransport (looked up per request) when hc is nil or has no
// Transport. Build it once and share it; it is safe for concurrent use.
func Client(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{Transport: defaultTransport{}}
	}
	if hc.Transport == nil {
		cp := *hc
		cp.Transport = defaultTransport{}
		return &cp
	}
	return hc
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
	return Do(ctx, hc, http.MethodPost, u, contentType, body, length, nil)
}

// Do is Post with another method and extra headers. body is streamed as
// it is read: nothing copies it.
func Do(ctx context.Context, hc *http.Client, method, u, contentType string, body io.Reader, length int64, header http.Header) (*Response, error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	if length == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, &Error{Err: StripURL(err, u)}
	}
	req.ContentLength = length
	if len(header) > 0 {
		req.Header = header.Clone()
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		err = StripURL(err, u)
		// A transport that does not trace (httpmock, a custom RoundTripper)
		// tells nothing; a dial failure is before any write whatever it says.
		return nil, &Error{Written: wrote.Load() && !isDial(err), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, &Error{Written: true, Err: StripURL(err, u)}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// StripURL drops the URL from a *url.Error and, as a last guard, any copy
// of u or its query from the message, keeping the error chain.
func StripURL(err error, u string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return Redact(err, u, queryOf(u))
}

func queryOf(u string) string {
	if _, q, ok := strings.Cut(u, "?"); ok {
		return q
	}
	return ""
}

// Redact returns err with every non-empty secret removed from its message.
// errors.Is and errors.As still see the original chain.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
