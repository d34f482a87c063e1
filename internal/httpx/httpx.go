// Package httpx holds the HTTP plumbing both backends share: one resty
// client per backend, streamed bodies with an exact Content-Length, errors
// without URLs, and knowing whether a failed request was ever written.
package httpx

import (
	"bytes"
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

	"github.com/go-resty/resty/v2"
)

// defaultTransport looks up http.DefaultTransport at every request, so that
// httpmock.Activate in a user's test intercepts a backend built without
// WithHTTPClient, and HTTP(S)_PROXY is honoured.
type defaultTransport struct{}

func (defaultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return http.DefaultTransport.RoundTrip(r)
}

type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}

// New returns the resty client of one backend. hc nil means a client that
// uses http.DefaultTransport at call time. The client is configured here
// once and only used afterwards: resty's setters are not synchronized.
func New(hc *http.Client) *resty.Client {
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport{}}
	} else if hc.Transport == nil {
		cp := *hc
		cp.Transport = defaultTransport{}
		hc = &cp
	}
	rc := resty.NewWithClient(hc)
	rc.SetLogger(quietLogger{})
	rc.SetRetryCount(0)
	return rc
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

// Post sends body, of exactly length bytes, to u and reads the whole answer.
// Errors never contain u: callers put secrets in query strings.
func Post(ctx context.Context, rc *resty.Client, u, contentType string, body io.Reader, length int64) (*Response, error) {
	return Do(ctx, rc, http.MethodPost, u, contentType, body, length)
}

// Do is Post with another method.
func Do(ctx context.Context, rc *resty.Client, method, u, contentType string, body io.Reader, length int64) (*Response, error) {
	return DoWithHeader(ctx, rc, method, u, contentType, body, length, nil)
}

// DoWithHeader is Do with extra request headers.
func DoWithHeader(ctx context.Context, rc *resty.Client, method, u, contentType string, body io.Reader, length int64, header http.Header) (*Response, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaderField: func(string, []string) { wrote.Store(true) },
		WroteHeaders:     func() { wrote.Store(true) },
		WroteRequest:     func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	ctx = httptrace.WithClientTrace(ctx, trace)
	var resp *Response
	var err error
	switch body.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		// net/http knows these lengths and can replay them, so resty
		// sends them without a copy.
		resp, err = viaResty(ctx, rc, method, u, contentType, body, header)
	default:
		// resty v2 copies any other io.Reader into memory to make it
		// replayable; a 20 MB upload would sit there twice. Streams go
		// through the same configured *http.Client directly.
		resp, err = streamed(ctx, rc.GetClient(), method, u, contentType, body, length, header)
	}
	if err != nil {
		err = StripURL(err, u)
		// A transport that does not trace (httpmock, a custom RoundTripper)
		// tells nothing; a dial failure is before any write whatever it says.
		written := wrote.Load() && !isDial(err)
		return nil, &Error{Written: written, Err: err}
	}
	return resp, nil
}

func viaResty(ctx context.Context, rc *resty.Client, method, u, contentType string, body io.Reader, header http.Header) (*Response, error) {
	req := rc.R().SetContext(ctx).SetHeader("Content-Type", contentType).SetBody(body)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := req.Execute(method, u)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode(), Header: resp.Header(), Body: resp.Body()}, nil
}

// maxAnswer bounds how much of an answer is read: the platforms answer a
// few hundred bytes; anything far larger is not theirs.
const maxAnswer = 4 << 20

func streamed(ctx context.Context, hc *http.Client, method, u, contentType string, body io.Reader, length int64, header http.Header) (*Response, error) {
	if length == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = length
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
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
