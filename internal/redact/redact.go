// Package redact removes secrets from errors: from the message a caller
// prints and from every error reachable through Unwrap, in every spelling a
// server or a library could echo (raw, query- or path-escaped, base64).
// It is the one redaction path of both backends.
package redact

import (
	"encoding/base64"
	"net"
	"net/url"
	"strings"

	"github.com/imbridge/middleware"
)

// Mask replaces a secret.
const Mask = "REDACTED"

// Spellings returns s as it may appear in text: raw, query-escaped,
// path-escaped (upper- and lower-case hex), and base64 in the standard and
// URL alphabets, padded or not. Empty s has none.
func Spellings(s string) []string {
	if s == "" {
		return nil
	}
	out := []string{s}
	add := func(v string) {
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	for _, esc := range []string{url.QueryEscape(s), url.PathEscape(s)} {
		add(esc)
		add(lowerHex(esc))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(s)))
	}
	return out
}

// lowerHex lower-cases the hex digits of %XX escapes.
func lowerHex(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = toLower(b[i+1])
			b[i+2] = toLower(b[i+2])
		}
	}
	return string(b)
}

func toLower(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// Set is the secrets of one backend, expanded into their spellings once.
type Set struct {
	spellings []string
}

// New returns the Set of secrets; empty ones are skipped.
func New(secrets ...string) *Set {
	s := &Set{}
	for _, v := range secrets {
		s.spellings = append(s.spellings, Spellings(v)...)
	}
	return s
}

// String returns text with every spelling of every secret masked.
func (s *Set) String(text string) string {
	for _, v := range s.spellings {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, Mask)
		}
	}
	return text
}

func (s *Set) contains(text string) bool {
	for _, v := range s.spellings {
		if strings.Contains(text, v) {
			return true
		}
	}
	return false
}

// Error returns err with no secret in its message or in any error its
// chain reaches. An error whose whole subtree is clean is kept as it is, so
// errors.Is and errors.As still find context.DeadlineExceeded, net.Error,
// *net.OpError, *url.Error and *middleware.APIError; the types that carry
// a secret are copied with it masked.
func (s *Set) Error(err error) error {
	if err == nil || len(s.spellings) == 0 || s.clean(err) {
		return err
	}
	return s.rewrite(err)
}

// clean reports whether no error of err's chain mentions a secret.
func (s *Set) clean(err error) bool {
	if err == nil {
		return true
	}
	if s.contains(err.Error()) {
		return false
	}
	if e, ok := err.(*url.Error); ok && s.contains(e.URL) {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return s.clean(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if !s.clean(e) {
				return false
			}
		}
	}
	return true
}

// rewrite copies err with its secrets masked. Known types keep their
// type; any other error becomes a masked message over its masked chain.
func (s *Set) rewrite(err error) error {
	if err == nil || s.clean(err) {
		return err
	}
	switch e := err.(type) {
	case *url.Error:
		return &url.Error{Op: e.Op, URL: s.String(e.URL), Err: s.rewrite(e.Err)}
	case *net.OpError:
		cp := *e
		cp.Err = s.rewrite(e.Err)
		return &cp
	case *middleware.APIError:
		cp := *e
		cp.Message, cp.Hint = s.String(e.Message), s.String(e.Hint)
		return &cp
	case *middleware.PartialError:
		cp := *e
		cp.Err = s.rewrite(e.Err)
		return &cp
	}
	r := &masked{msg: s.String(err.Error())}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if next := u.Unwrap(); next != nil {
			r.kids = []error{s.rewrite(next)}
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			r.kids = append(r.kids, s.rewrite(e))
		}
	}
	if ne, ok := err.(net.Error); ok {
		return &maskedNet{masked: r, timeout: ne.Timeout()}
	}
	return r
}

// masked stands for an error whose text held a secret: the text masked,
// and the chain masked.
type masked struct {
	msg  string
	kids []error
}

func (m *masked) Error() string   { return m.msg }
func (m *masked) Unwrap() []error { return m.kids }

// maskedNet is masked for an error that was a net.Error, keeping its
// answers.
type maskedNet struct {
	*masked
	timeout bool
}

// Timeout is the original error's answer.
func (m *maskedNet) Timeout() bool { return m.timeout }

// Temporary is Timeout, as net/http's own errors answer it.
func (m *maskedNet) Temporary() bool { return m.timeout }
