package timchat

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// scan collects every error and log record of the suite through
// newBackend, and every usersig the mocks saw; TestMain fails the run if
// the secret key or a usersig shows up in any error or record.
var scan = testkit.NewCollector()

func TestMain(m *testing.M) {
	scan.Secret(testSecret)
	code := m.Run()
	leaks, texts, secrets := scan.Check()
	if leaks != "" {
		fmt.Fprint(os.Stderr, "secret scan: a secret leaked:\n", leaks)
		code = 1
	} else if code == 0 && flag.Lookup("test.run").Value.String() == "" && (texts == 0 || secrets < 2) {
		fmt.Fprintln(os.Stderr, "secret scan: nothing was collected")
		code = 1
	}
	os.Exit(code)
}

// The public sample key of the official TLS sig READMEs.
const (
	testSecret = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	testAppID  = 1400000000
	testBase   = "https://console.tim.qq.com"
)

var bg = context.Background()

type recorded struct {
	API   string
	Query url.Values
	Body  []byte
}

// mockTIM is a per-test httpmock transport that records calls and answers
// scripted replies per API (default: OK).
type mockTIM struct {
	t  *testing.T
	mt *httpmock.MockTransport

	mu      sync.Mutex
	reqs    []recorded
	answers map[string][]string
}

func newMock(t *testing.T) *mockTIM {
	m := &mockTIM{t: t, mt: httpmock.NewMockTransport(), answers: map[string][]string{}}
	m.mt.RegisterRegexpResponder("POST", regexp.MustCompile(`^`+regexp.QuoteMeta(testBase)+`/v4/`), func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		api := strings.TrimPrefix(r.URL.Path, "/v4/")
		m.mu.Lock()
		defer m.mu.Unlock()
		m.reqs = append(m.reqs, recorded{API: api, Query: r.URL.Query(), Body: body})
		scan.Secret(r.URL.Query().Get("usersig"))
		if q := m.answers[api]; len(q) > 0 {
			m.answers[api] = q[1:]
			return httpmock.NewStringResponse(200, q[0]), nil
		}
		return httpmock.NewStringResponse(200, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`), nil
	})
	return m
}

func (m *mockTIM) answer(api string, bodies ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.answers[api] = append(m.answers[api], bodies...)
}

func (m *mockTIM) requests() []recorded {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]recorded(nil), m.reqs...)
}

func (m *mockTIM) bodies(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, r := range m.requests() {
		var v map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &v))
		out = append(out, v)
	}
	return out
}

// sentTIM is a send body as TIM's docs spell it, decoded for assertions:
// MsgBody entries keep their MsgContent raw, read with image().
type sentTIM struct {
	GroupID   string `json:"GroupId"`
	MsgRandom uint32 `json:"MsgRandom"`
	MsgBody   []struct {
		MsgType    string          `json:"MsgType"`
		MsgContent json.RawMessage `json:"MsgContent"`
	} `json:"MsgBody"`
}

// imageContent is a TIMImageElem's MsgContent, as TIM documents it.
type imageContent struct {
	UUID           string `json:"UUID"`
	ImageFormat    int    `json:"ImageFormat"`
	ImageInfoArray []struct {
		Type   int    `json:"Type"`
		Size   int64  `json:"Size"`
		Width  int    `json:"Width"`
		Height int    `json:"Height"`
		URL    string `json:"URL"`
	} `json:"ImageInfoArray"`
}

// typed returns the request bodies decoded as sentTIM.
func (m *mockTIM) typed(t *testing.T) []sentTIM {
	var out []sentTIM
	for _, r := range m.requests() {
		var v sentTIM
		require.NoError(t, json.Unmarshal(r.Body, &v))
		out = append(out, v)
	}
	return out
}

// image decodes element i of s as an image.
func (s sentTIM) image(t *testing.T, i int) imageContent {
	require.Greater(t, len(s.MsgBody), i)
	require.Equal(t, TypeImage, s.MsgBody[i].MsgType)
	var c imageContent
	require.NoError(t, json.Unmarshal(s.MsgBody[i].MsgContent, &c))
	require.NotEmpty(t, c.ImageInfoArray)
	return c
}

var fixedNow = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func newBackend(t *testing.T, m *mockTIM, opts ...Option) (*Client, *middleware.Client) {
	t.Helper()
	base := []Option{WithHTTPClient(&http.Client{Transport: m.mt}), WithRetry(3, 0), WithClock(func() time.Time { return fixedNow })}
	c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator"}, append(base, opts...)...)
	require.NoError(t, err)
	mc, err := middleware.NewClient(middleware.WithLogger(scan.Logger()),
		middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Default: true, Backend: scan.Wrap(c)}))
	require.NoError(t, err)
	return c, mc
}

// normalize zeroes the random dedup keys so bodies can be compared.
func normalize(t *testing.T, body []byte) []byte {
	var v map[string]any
	require.NoError(t, json.Unmarshal(body, &v))
	for _, k := range []string{"MsgRandom", "MsgSeq", "Random"} {
		if _, ok := v[k]; ok {
			v[k] = 0
		}
	}
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.GoldenJSON(t, name, normalize(t, got), *update)
}
