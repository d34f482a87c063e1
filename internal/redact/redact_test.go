package redact

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
)

// sig looks like a usersig: '*', '-' and '_' are what query escaping
// changes.
const sig = "eJwtzE0Lg*CIAK9Jyy-lbCZ_fC0d*ss"

func TestSpellings(t *testing.T) {
	t.Parallel()
	got := Spellings(sig)
	for _, want := range []string{sig, url.QueryEscape(sig), strings.ReplaceAll(url.QueryEscape(sig), "%2A", "%2a"),
		base64.StdEncoding.EncodeToString([]byte(sig)), base64.RawURLEncoding.EncodeToString([]byte(sig))} {
		assert.Contains(t, got, want)
	}
	assert.Contains(t, url.QueryEscape(sig), "%2A", "the test secret must change when escaped")
	assert.Nil(t, Spellings(""))
}

// walk returns every error reachable from err through Unwrap.
func walk(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, walk(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, walk(e)...)
		}
	}
	return out
}

func leaks(t *testing.T, err error, secret string) {
	t.Helper()
	for _, e := range walk(err) {
		for _, s := range Spellings(secret) {
			for _, text := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
				require.NotContains(t, text, s, "%T in the chain holds a spelling of the secret", e)
			}
		}
	}
}

func TestErrorMasksTheWholeChain(t *testing.T) {
	t.Parallel()
	u := "https://api.example.com/v4/openim/sendmsg?usersig=" + url.QueryEscape(sig)
	op := &net.OpError{Op: "read", Net: "tcp", Err: &timeoutError{"gateway echoed " + u}}
	orig := fmt.Errorf("timchat: sendmsg: %w: %w", context.DeadlineExceeded, errors.Join(
		&url.Error{Op: "Post", URL: u, Err: op},
		&middleware.APIError{Backend: "timchat", Code: 70003, Message: "bad sig " + sig, Kind: middleware.ErrInvalidItem},
	))
	// Before: the chain holds the secret below the top message.
	require.NotEmpty(t, func() []error {
		var bad []error
		for _, e := range walk(orig) {
			if strings.Contains(e.Error(), url.QueryEscape(sig)) {
				bad = append(bad, e)
			}
		}
		return bad
	}())

	got := New(sig).Error(orig)
	leaks(t, got, sig)
	assert.Contains(t, got.Error(), Mask)

	// What callers test for is still found.
	assert.ErrorIs(t, got, context.DeadlineExceeded)
	assert.ErrorIs(t, got, middleware.ErrInvalidItem)
	var opErr *net.OpError
	require.ErrorAs(t, got, &opErr)
	assert.Equal(t, "read", opErr.Op)
	var ue *url.Error
	require.ErrorAs(t, got, &ue)
	assert.Equal(t, "Post", ue.Op)
	assert.NotContains(t, ue.URL, url.QueryEscape(sig))
	var ne, origNE net.Error
	require.ErrorAs(t, orig, &origNE)
	require.True(t, origNE.Timeout())
	require.ErrorAs(t, got, &ne)
	assert.True(t, ne.Timeout(), "a timeout stays a timeout")
	var te *timeoutError
	assert.False(t, errors.As(got, &te), "the type that held the secret is replaced")
	var api *middleware.APIError
	require.ErrorAs(t, got, &api)
	assert.Equal(t, 70003, api.Code)
	assert.Equal(t, "bad sig "+Mask, api.Message)

	// The original is not changed: it may be shared.
	var origAPI *middleware.APIError
	require.ErrorAs(t, orig, &origAPI)
	assert.Contains(t, origAPI.Message, sig)
}

// timeoutError is a net.Error whose text holds what it was given.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

func TestErrorKeepsCleanErrors(t *testing.T) {
	t.Parallel()
	clean := fmt.Errorf("wecom: %w", context.Canceled)
	assert.Same(t, clean, New(sig).Error(clean))
	assert.Nil(t, New(sig).Error(nil))
	assert.Same(t, clean, New().Error(clean))
}

func TestMaskedNetErrorOnlyWhenItWasOne(t *testing.T) {
	t.Parallel()
	got := New(sig).Error(errors.New("plain " + sig))
	var ne net.Error
	assert.False(t, errors.As(got, &ne), "a plain error must not turn into a net.Error")
	assert.Equal(t, "plain "+Mask, got.Error())
}

func TestStringMasksEscapedAndEncodedForms(t *testing.T) {
	t.Parallel()
	s := New(sig, "", "second-secret-1234")
	text := "a " + sig + " b " + url.QueryEscape(sig) + " c " + base64.StdEncoding.EncodeToString([]byte("second-secret-1234"))
	got := s.String(text)
	assert.Equal(t, "a REDACTED b REDACTED c REDACTED", got)
}
