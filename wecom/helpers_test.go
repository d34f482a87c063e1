package wecom

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// scan collects every error and log record of the suite through
// newBackend; TestMain fails the run if the key shows up in any.
var scan = testkit.NewCollector()

func TestMain(m *testing.M) {
	scan.Secret(testKey)
	code := m.Run()
	leaks, texts, _ := scan.Check()
	if leaks != "" {
		fmt.Fprint(os.Stderr, "secret scan: the webhook key leaked:\n", leaks)
		code = 1
	} else if code == 0 && texts == 0 && !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintln(os.Stderr, "secret scan: nothing was collected")
		code = 1
	}
	os.Exit(code)
}

const testKey = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"

// recorded is one request the mock saw.
type recorded struct {
	Path, Query, ContentType string
	ContentLength            int64
	Body                     []byte
}

// mockWeCom is a per-test httpmock transport that records requests and
// answers with scripted replies (default: success).
type mockWeCom struct {
	t  *testing.T
	mt *httpmock.MockTransport

	mu      sync.Mutex
	reqs    []recorded
	answers map[string][]string // path -> queued bodies
	ids     int
}

func newMock(t *testing.T) *mockWeCom {
	m := &mockWeCom{t: t, mt: httpmock.NewMockTransport(), answers: map[string][]string{}}
	handler := func(path string) httpmock.Responder {
		return func(r *http.Request) (*http.Response, error) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.reqs = append(m.reqs, recorded{Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"), ContentLength: r.ContentLength, Body: body})
			if q := m.answers[path]; len(q) > 0 {
				m.answers[path] = q[1:]
				return httpmock.NewStringResponse(200, q[0]), nil
			}
			if path == "/cgi-bin/webhook/upload_media" {
				m.ids++
				return httpmock.NewStringResponse(200, fmt.Sprintf(`{"errcode":0,"errmsg":"ok","type":"file","media_id":"MEDIA%d","created_at":"1380000000"}`, m.ids)), nil
			}
			return httpmock.NewStringResponse(200, `{"errcode":0,"errmsg":"ok"}`), nil
		}
	}
	m.mt.RegisterResponder("POST", DefaultBaseURL+"/cgi-bin/webhook/send", handler("/cgi-bin/webhook/send"))
	m.mt.RegisterResponder("POST", DefaultBaseURL+"/cgi-bin/webhook/upload_media", handler("/cgi-bin/webhook/upload_media"))
	return m
}

// answer queues replies for path ("send" or "upload").
func (m *mockWeCom) answer(path string, bodies ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := "/cgi-bin/webhook/" + path
	if path == "upload" {
		p = "/cgi-bin/webhook/upload_media"
	}
	m.answers[p] = append(m.answers[p], bodies...)
}

func (m *mockWeCom) requests() []recorded {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]recorded(nil), m.reqs...)
}

// sent is a send body as the WeCom doc spells it, decoded for assertions
// (written from the doc, not from the SDK's own types).
type sent struct {
	ChatID        string `json:"chatid"`
	MsgType       string `json:"msgtype"`
	PostID        string `json:"post_id"`
	VisibleToUser string `json:"visible_to_user"`
	Text          *struct {
		Content             string   `json:"content"`
		MentionedList       []string `json:"mentioned_list"`
		MentionedMobileList []string `json:"mentioned_mobile_list"`
	} `json:"text"`
	Markdown *struct {
		Content     string `json:"content"`
		AtShortName bool   `json:"at_short_name"`
	} `json:"markdown"`
	MarkdownV2 *struct {
		Content string `json:"content"`
	} `json:"markdown_v2"`
	Image *struct {
		Base64 string `json:"base64"`
		MD5    string `json:"md5"`
	} `json:"image"`
	File *struct {
		MediaID string `json:"media_id"`
	} `json:"file"`
	Voice *struct {
		MediaID string `json:"media_id"`
	} `json:"voice"`
}

// typed returns the send bodies decoded as sent.
func (m *mockWeCom) typed() []sent {
	var out []sent
	for _, r := range m.requests() {
		if r.Path != "/cgi-bin/webhook/send" {
			continue
		}
		var v sent
		require.NoError(m.t, json.Unmarshal(r.Body, &v), "send body is JSON: %s", r.Body)
		out = append(out, v)
	}
	return out
}

// newBackend returns a wecom.Client over the mock, with pacing off and
// fast retries, and a middleware.Client with it as the default "wecom"
// account.
func newBackend(t *testing.T, m *mockWeCom, opts ...Option) (*Client, *middleware.Client) {
	t.Helper()
	base := []Option{WithHTTPClient(&http.Client{Transport: m.mt}), WithRateLimit(0), WithRetry(3, 0)}
	w, err := New(testKey, append(base, opts...)...)
	require.NoError(t, err)
	w.boundary = func() string { return "BOUNDARY" }
	mc, err := middleware.NewClient(middleware.WithLogger(scan.Logger()),
		middleware.WithAccount(middleware.Account{ID: "bot", IM: "wecom", Default: true, Backend: scan.Wrap(w)}))
	require.NoError(t, err)
	return w, mc
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.GoldenJSON(t, name, got, *update)
}

var bg = context.Background()
