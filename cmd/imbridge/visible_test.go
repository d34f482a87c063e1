package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestVisible(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain text, 中文 and a\ttab":              "plain text, 中文 and a\ttab",
		"\x1b]0;pwned\x07title":                  `\x1b]0;pwned\x07title`,
		"clear\x1b[2J screen\r\nnext":            `clear\x1b[2J screen\x0d\x0anext`,
		"c1 \u009b31m":                           `c1 \x9b31m`,
		"line sep \u2028 stays? no, not control": "line sep \u2028 stays? no, not control",
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServerTextReachesNoTerminalRaw: an answer holding escape sequences
// is printed with them made visible.
func TestServerTextReachesNoTerminalRaw(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"errcode":40008,"errmsg":"invalid msgtype \u001b[2J\u001b]0;owned\u0007"}`)
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"send", "--url", "wecom://11111111-2222-3333-4444-555555555555?base=" + url.QueryEscape(srv.URL), "hi"},
		nil, &stdout, &stderr)
	if code != exitBadInput {
		t.Fatalf("exit %d, want %d: %s", code, exitBadInput, stderr.String())
	}
	if strings.ContainsAny(stderr.String()+stdout.String(), "\x1b\x07") {
		t.Fatalf("an escape sequence reached the terminal: %q", stderr.String())
	}
	if !strings.Contains(stderr.String(), `\x1b[2J`) {
		t.Fatalf("the server's text is not shown: %q", stderr.String())
	}
}
