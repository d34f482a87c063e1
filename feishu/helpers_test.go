package feishu

import (
	"context"
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

// scan collects every error and log record of the suite; TestMain fails
// the run if the token or the secret shows up in any.
var scan = testkit.NewCollector()

const (
	testHook   = "2f8c1a7e-5b3d-4e9f-a0c1-7d6e5f4a3b2c"
	testSecret = "q8Z2fKx7TnV3rW1s"
)

func TestMain(m *testing.M) {
	scan.Secret(testHook)
	scan.Secret(testSecret)
	code := m.Run()
	leaks, texts, _ := scan.Check()
	if leaks != "" {
		fmt.Fprint(os.Stderr, "secret scan: a secret leaked:\n", leaks)
		code = 1
	} else if code == 0 && texts == 0 && !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		fmt.Fprintln(os.Stderr, "secret scan: nothing was collected")
		code = 1
	}
	os.Exit(code)
}

// recorded is one request the mock saw.
type recorded struct {
	Query string
	Body  []byte
}

// mock is a per-test httpmock transport that records requests and answers
// with queued bodies (default: success).
type mock struct {
	mt      *httpmock.MockTransport
	mu      sync.Mutex
	reqs    []recorded
	answers []string
}

func newMock() *mock {
	m := &mock{mt: httpmock.NewMockTransport()}
	m.mt.RegisterResponder("POST", DefaultBaseURL+hookPath+testHook, func(r *http.Request) (*http.Response, error) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.reqs = append(m.reqs, recorded{Query: r.URL.RawQuery, Body: body})
		if len(m.answers) > 0 {
			a := m.answers[0]
			m.answers = m.answers[1:]
			return httpmock.NewStringResponse(200, a), nil
		}
		return httpmock.NewStringResponse(200, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`), nil
	})
	return m
}

func (m *mock) answer(bodies ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.answers = append(m.answers, bodies...)
}

func (m *mock) requests() []recorded {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]recorded(nil), m.reqs...)
}

// newBackend returns a Client over the mock, unpaced, and a
// middleware.Client with it as the default "feishu" account.
func newBackend(t *testing.T, m *mock, opts ...Option) (*Client, *middleware.Client) {
	t.Helper()
	base := []Option{WithHTTPClient(&http.Client{Transport: m.mt}), WithRateLimit(0, 0), WithRetry(3, 0)}
	c, err := New(testHook, append(base, opts...)...)
	require.NoError(t, err)
	return c, clientOf(t, c)
}

func clientOf(t *testing.T, b middleware.Backend) *middleware.Client {
	t.Helper()
	mc, err := middleware.NewClient(middleware.WithLogger(scan.Logger()),
		middleware.WithAccount(middleware.Account{ID: "bot", IM: IM, Default: true, Backend: scan.Wrap(b)}))
	require.NoError(t, err)
	return mc
}

var bg = context.Background()
