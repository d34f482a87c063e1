package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
)

// harness is a gateway serving on loopback, delivering to a WeCom and a
// TIM emulator.
type harness struct {
	t    *testing.T
	wc   *imtest.WeCom
	tim  *imtest.TIM
	srv  *Server
	url  string
	stop func() error
}

// accountLines are the emulators' accounts, "ops" (WeCom) and "tim".
func accountLines(wc *imtest.WeCom, tim *imtest.TIM) string {
	return "  - ops wecom://" + wc.Key + "?base=" + url.QueryEscape(wc.URL) + "\n" +
		"  - tim tim://" + tim.Admin + ":" + tim.SecretKey + "@" + strconv.FormatUint(tim.SDKAppID, 10) + "?base=" + url.QueryEscape(tim.URL) + "\n"
}

// start serves the configuration yml, in which ACCOUNTS stands for the
// emulators' account lines.
func start(t *testing.T, yml string, wopts []imtest.WeComOption, opts ...Option) *harness {
	t.Helper()
	wc := imtest.NewWeCom(wopts...)
	t.Cleanup(wc.Close)
	tim := imtest.NewTIM()
	t.Cleanup(tim.Close)
	cfg, err := Parse([]byte(strings.ReplaceAll(yml, "ACCOUNTS\n", accountLines(wc, tim))))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once bool
	var result error
	stop := func() error {
		if !once {
			once = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return &harness{t: t, wc: wc, tim: tim, srv: srv, url: "http://" + ln.Addr().String(), stop: stop}
}

// post sends body to path and returns the status and the answer.
func (h *harness) post(path string, body []byte, header ...string) (int, string) {
	h.t.Helper()
	return h.do(http.MethodPost, path, body, header...)
}

// get fetches path.
func (h *harness) get(path string, header ...string) (int, string) {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil, header...)
}

// do sends one request, header as name, value pairs; a body is JSON.
func (h *harness) do(method, path string, body []byte, header ...string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wecomMessages waits until the WeCom emulator has accepted n messages
// and returns them; it fails past the deadline.
func (h *harness) wecomMessages(n int) []imtest.WeComMessage {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := h.wc.Messages()
		if len(ms) >= n || time.Now().After(deadline) {
			if len(ms) < n {
				h.t.Fatalf("WeCom accepted %d message(s), want %d", len(ms), n)
			}
			return ms
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// timTexts waits for n TIM messages and returns their texts.
func (h *harness) timTexts(n int) []string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := h.tim.Messages()
		if len(ms) >= n || time.Now().After(deadline) {
			if len(ms) < n {
				h.t.Fatalf("TIM accepted %d message(s), want %d", len(ms), n)
			}
			var out []string
			for _, m := range ms {
				for _, e := range m.Elements {
					if te, ok := e.MsgContent.(*timchat.TextElem); ok {
						out = append(out, te.Text)
					}
				}
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// notification is an Alertmanager notification of group with the firing
// and resolved alerts named, each with its instance label and summary.
func notification(group string, firing, resolved []string) *Notification {
	start := time.Date(2026, 11, 29, 6, 3, 5, 0, time.UTC)
	n := &Notification{Version: "4", GroupKey: `{}:{alertname="` + group + `"}`, Receiver: "gw",
		GroupLabels: map[string]string{"alertname": group}, CommonLabels: map[string]string{"alertname": group},
		CommonAnnotations: map[string]string{}, ExternalURL: "http://am-a:9093", Status: StatusResolved}
	for i, inst := range firing {
		n.Status = StatusFiring
		n.Alerts = append(n.Alerts, Alert{Status: StatusFiring, Labels: map[string]string{"alertname": group, "instance": inst},
			Annotations: map[string]string{"summary": "disk almost full on " + inst}, StartsAt: start.Add(time.Duration(i) * time.Minute),
			Fingerprint: fingerprint(group + inst)})
	}
	for _, inst := range resolved {
		n.Alerts = append(n.Alerts, Alert{Status: StatusResolved, Labels: map[string]string{"alertname": group, "instance": inst},
			Annotations: map[string]string{"summary": "disk almost full on " + inst}, StartsAt: start, EndsAt: start.Add(17 * time.Minute),
			Fingerprint: fingerprint(group + inst)})
	}
	return n
}

// fingerprint is a stand-in for Alertmanager's: 16 hex digits of s.
func fingerprint(s string) string {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return strconv.FormatUint(h|1<<63, 16)
}

// failingMarks is a dedup store that is down: every call fails, as
// redisstate.Marks does when Redis does not answer.
type failingMarks struct{}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (failingMarks) Reserve(context.Context, string, string, string, time.Duration, time.Duration) (string, string, error) {
	return "", "", errDown
}
func (failingMarks) Commit(context.Context, string, string, string, time.Duration) (bool, error) {
	return false, errDown
}
func (failingMarks) Release(context.Context, string, string) error { return errDown }
