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

// TestPartialTargetsExit8: a TIM push to alice|bob that reaches alice and
// not bob (an unknown account) is a partial delivery: exit 8, saying who
// was not reached, never "nothing was sent".
func TestPartialTargetsExit8(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgKey":"k","ErrorList":[{"To_Account":"bob","ErrorCode":20003}]}`)
	}))
	defer srv.Close()
	raw := "tim://administrator:f845e205c489c6a10eac86e8125eb36d@1400000000?base=" + url.QueryEscape(srv.URL)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"send", "--url", raw, "--user", "alice|bob", "--json", "hi"}, nil, &stdout, &stderr)
	if code != exitPartial {
		t.Fatalf("exit %d, want %d: %s %s", code, exitPartial, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), `"sent":1`) || !strings.Contains(stdout.String(), `"failed_targets":["bob (20003)"]`) {
		t.Fatalf("JSON does not say who was reached: %s", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	run(context.Background(), []string{"send", "--url", raw, "--user", "alice|bob", "hi"}, nil, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "not reached: bob (20003)") {
		t.Fatalf("stderr does not say who was not reached: %q", stderr.String())
	}
}
