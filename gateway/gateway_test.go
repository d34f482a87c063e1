package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imbridge/middleware/internal/testkit"
)

const baseConfig = `
accounts:
ACCOUNTS
timezone: Asia/Shanghai
routes:
  - name: ops
    account: ops
    mentions: [alice]
  - name: oncall
    account: tim
    users: [alice, bob]
  - name: quiet
    account: ops
    group: quietroom
    resolved: false
  - name: locked
    account: ops
    token: s3cr3t-token
    grafana_secret: grafana-hmac-secret
`

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A notification is answered 200 once queued, reaches the chat once as
// the digest, in local time, mentioning on firing; its HA copy is
// answered 200 and not sent; its resolution is a new notification.
func TestAlertmanagerNotificationOnce(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil)
	n := notification("DiskFull", []string{"host-1", "host-2"}, nil)
	code, body := h.post("/alertmanager/ops", mustJSON(t, n))
	if code != http.StatusOK || !strings.Contains(body, `"outcome":"queued"`) {
		t.Fatalf("first: %d %s", code, body)
	}
	// The other HA peer's copy: same alerts, another externalURL.
	n.ExternalURL = "http://am-b:9093"
	code, body = h.post("/alertmanager/ops", mustJSON(t, n))
	if code != http.StatusOK || !strings.Contains(body, `"outcome":"deduplicated"`) {
		t.Fatalf("copy: %d %s", code, body)
	}
	ms := h.wecomMessages(1)
	want := "[FIRING:2] DiskFull\nfiring 2, resolved 0\n" +
		"FIRING   2026-11-29 14:03:05 CST  instance=host-1  disk almost full on host-1\n" +
		"FIRING   2026-11-29 14:04:05 CST  instance=host-2  disk almost full on host-2"
	if ms[0].Content != want {
		t.Fatalf("digest:\n%s\nwant:\n%s", ms[0].Content, want)
	}
	if strings.Join(ms[0].Mentions, ",") != "alice" {
		t.Fatalf("mentions %v, want alice", ms[0].Mentions)
	}
	resolved := notification("DiskFull", []string{"host-2"}, []string{"host-1"})
	if code, body := h.post("/alertmanager/ops", mustJSON(t, resolved)); code != http.StatusOK || !strings.Contains(body, `"queued"`) {
		t.Fatalf("resolved one: %d %s", code, body)
	}
	all := notification("DiskFull", nil, []string{"host-1", "host-2"})
	if code, _ := h.post("/alertmanager/ops", mustJSON(t, all)); code != http.StatusOK {
		t.Fatalf("all resolved: %d", code)
	}
	ms = h.wecomMessages(3)
	time.Sleep(300 * time.Millisecond) // nothing more may come
	if got := len(h.wc.Messages()); got != 3 {
		t.Fatalf("%d messages, want 3", got)
	}
	if !strings.HasPrefix(ms[2].Content, "[RESOLVED] DiskFull\nfiring 0, resolved 2\nRESOLVED 2026-11-29 14:20:05 CST  instance=host-1") ||
		!strings.Contains(ms[2].Content, "(lasted 17m)") || len(ms[2].Mentions) != 0 {
		t.Fatalf("resolved digest %q mentions %v", ms[2].Content, ms[2].Mentions)
	}
}

// TIM routes go to their users.
func TestTIMRoute(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil)
	if code, body := h.post("/alertmanager/oncall", mustJSON(t, notification("NodeDown", []string{"n1"}, nil))); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	texts := h.timTexts(1)
	if !strings.HasPrefix(texts[0], "[FIRING:1] NodeDown\n") {
		t.Fatalf("TIM text %q", texts[0])
	}
	if to := h.tim.Messages()[0].To; strings.Join(to, ",") != "alice,bob" {
		t.Fatalf("to %v", to)
	}
}

// What would never succeed is 4xx; what may later is 503; neither is
// queued.
func TestAnswers(t *testing.T) {
	t.Parallel()
	var logs testkit.SyncBuffer
	h := start(t, strings.Replace(baseConfig, "timezone:", "max_body: 4096\ntimezone:", 1), nil,
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	var answers []string
	defer func() {
		// No answer, log line, metric or history shows a secret.
		_, m := h.get("/metrics")
		_, hist := h.get("/history/locked", "Authorization", "Bearer s3cr3t-token")
		all := strings.Join(answers, "\n") + logs.String() + m + hist
		for _, secret := range []string{"s3cr3t-token", "grafana-hmac-secret", h.wc.Key, h.tim.SecretKey} {
			if strings.Contains(all, secret) {
				t.Errorf("a secret shows in the answers, logs, metrics or history: %q", secret)
			}
		}
	}()
	good := mustJSON(t, notification("X", []string{"a"}, nil))
	for _, c := range []struct {
		name, path string
		body       []byte
		header     []string
		want       int
	}{
		{"unknown route", "/alertmanager/nope", good, nil, 404},
		{"not JSON", "/alertmanager/ops", []byte("{"), nil, 400},
		{"wrong version", "/alertmanager/ops", []byte(`{"version":"3","status":"firing","alerts":[{"status":"firing"}]}`), nil, 400},
		{"no alerts", "/alertmanager/ops", []byte(`{"version":"4","status":"firing","alerts":[]}`), nil, 400},
		{"grafana version on alertmanager", "/alertmanager/ops", []byte(`{"version":"1","status":"firing","alerts":[{"status":"firing"}]}`), nil, 400},
		{"too large", "/alertmanager/ops", []byte(`{"version":"4","x":"` + strings.Repeat("a", 5000) + `"}`), nil, 413},
		{"no token", "/alertmanager/locked", good, nil, 401},
		{"wrong token", "/alertmanager/locked", good, []string{"Authorization", "Bearer nope"}, 401},
		{"basic auth", "/alertmanager/locked", good, []string{"Authorization", "Basic czNjcjN0LXRva2Vu"}, 401},
		{"send: empty", "/send/ops", []byte(`{"text":" "}`), nil, 400},
		{"send: unknown key", "/send/ops", []byte(`{"txt":"hi"}`), nil, 400},
		{"send: markdown on TIM", "/send/oncall", []byte(`{"markdown":"**x**"}`), nil, 400},
		{"wrong method", "/alertmanager/ops", nil, nil, 405},
	} {
		var code int
		var body string
		if c.want == 405 {
			code, body = h.get(c.path)
		} else {
			code, body = h.post(c.path, c.body, c.header...)
		}
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
		answers = append(answers, body)
	}
	if code, body := h.post("/alertmanager/locked", good, "Authorization", "Bearer s3cr3t-token"); code != 200 {
		t.Fatalf("right token: %d %s", code, body)
	}
	h.wecomMessages(1)
	if n := h.wc.Requests(); n != 1 {
		t.Fatalf("%d requests reached WeCom, want 1 (only the authenticated one)", n)
	}
}

// With the dedup store down, nothing is queued and the sender is told to
// retry.
func TestStoreDownIs503(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil, WithMarks(failingMarks{}))
	code, body := h.post("/alertmanager/ops", mustJSON(t, notification("X", []string{"a"}, nil)))
	if code != http.StatusServiceUnavailable || strings.Contains(body, "6379") {
		t.Fatalf("%d %s: want 503 without the store's address", code, body)
	}
	time.Sleep(100 * time.Millisecond)
	if n := h.wc.Requests(); n != 0 {
		t.Fatalf("%d requests reached WeCom", n)
	}
	if code, _ := h.get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d without a readiness check", code)
	}
}

// Past queue_limit, the route answers 503 until its queue drains.
func TestQueueLimit(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(baseConfig, "timezone:", "queue_limit: 1\ntimezone:", 1)
	h := start(t, cfg, nil)
	h.wc.Faults.Latency(700 * time.Millisecond) // the first stays in flight
	if code, body := h.post("/alertmanager/ops", mustJSON(t, notification("A", []string{"a"}, nil))); code != 200 {
		t.Fatalf("first: %d %s", code, body)
	}
	code, body := h.post("/alertmanager/ops", mustJSON(t, notification("B", []string{"b"}, nil)))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "queue_limit 1") {
		t.Fatalf("second: %d %s", code, body)
	}
	h.wc.Faults.Latency(0)
	h.wecomMessages(1)
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.watch.waiting("ops") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := h.post("/alertmanager/ops", mustJSON(t, notification("B", []string{"b"}, nil))); code != 200 {
		t.Fatalf("after draining: %d %s", code, body)
	}
	h.wecomMessages(2)
}

// Grafana's payload, from its docs' example, is taken when its signature
// is right, in either header Grafana uses, and refused (401) unsigned,
// wrongly signed, or with a stale timestamp.
func TestGrafanaSignature(t *testing.T) {
	t.Parallel()
	cfg := baseConfig + `  - name: stamped
    account: ops
    group: stamped
    grafana_secret: grafana-hmac-secret
    grafana_timestamp_header: X-Grafana-Timestamp
`
	h := start(t, cfg, nil)
	body, err := os.ReadFile("testdata/grafana.json")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(prefix string, b []byte) string {
		m := hmac.New(sha256.New, []byte("grafana-hmac-secret"))
		m.Write([]byte(prefix))
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
	auth := []string{"Authorization", "Bearer s3cr3t-token"}
	if code, _ := h.post("/grafana/locked", body, auth...); code != 401 {
		t.Fatalf("unsigned: %d", code)
	}
	if code, _ := h.post("/grafana/locked", body, append(auth, GrafanaSignatureHeader, sign("", []byte("other")))...); code != 401 {
		t.Fatalf("wrongly signed: %d", code)
	}
	if code, _ := h.post("/grafana/locked", body, append(auth, GrafanaSignatureHeader, "sha256="+sign("", body))...); code != 401 {
		t.Fatalf("prefixed signature (Grafana sends none): %d", code)
	}
	if code, b := h.post("/grafana/locked", body, append(auth, GrafanaSignatureHeader, sign("", body))...); code != 200 {
		t.Fatalf("signed: %d %s", code, b)
	}
	if code, b := h.post("/grafana/locked", body, append(auth, GrafanaFallbackSignatureHeader, sign("", body))...); code != 200 || !strings.Contains(b, "deduplicated") {
		t.Fatalf("signed, fallback header, same notification: %d %s", code, b)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	if code, _ := h.post("/grafana/stamped", body, GrafanaSignatureHeader, sign(old+":", body), "X-Grafana-Timestamp", old); code != 401 {
		t.Fatalf("stale timestamp: %d", code)
	}
	if code, _ := h.post("/grafana/stamped", body, GrafanaSignatureHeader, sign("", body), "X-Grafana-Timestamp", now); code != 401 {
		t.Fatalf("timestamp not signed: %d", code)
	}
	if code, b := h.post("/grafana/stamped", body, GrafanaSignatureHeader, sign(now+":", body), "X-Grafana-Timestamp", now); code != 200 {
		t.Fatalf("signed with timestamp: %d %s", code, b)
	}
	// PUT, as a contact point may be set to send.
	req, _ := http.NewRequest(http.MethodPut, h.url+"/grafana/stamped", bytes.NewReader(body))
	req.Header.Set(GrafanaSignatureHeader, sign(now+":", body))
	req.Header.Set("X-Grafana-Timestamp", now)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Unsigned on a route without a secret: taken.
	if code, b := h.post("/grafana/ops", body); code != 200 {
		t.Fatalf("no secret configured: %d %s", code, b)
	}
	ms := h.wecomMessages(3)
	if !strings.HasPrefix(ms[0].Content, "[FIRING:2] \nfiring 2, resolved 0\nFIRING   2021-10-12 15:51:03 CST  alertname=High memory usage zone=us-1  This alert was triggered for zone us-1") {
		t.Fatalf("grafana digest %q", ms[0].Content)
	}
}

// A route with resolved: false drops resolved alerts, and answers a
// resolved-only notification 200 without sending anything.
func TestResolvedOff(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil)
	if code, b := h.post("/alertmanager/quiet", mustJSON(t, notification("D", nil, []string{"x"}))); code != 200 || !strings.Contains(b, `"skipped"`) {
		t.Fatalf("%d %s", code, b)
	}
	if code, _ := h.post("/alertmanager/quiet", mustJSON(t, notification("D", []string{"y"}, []string{"x"}))); code != 200 {
		t.Fatal(code)
	}
	ms := h.wecomMessages(1)
	if strings.Contains(ms[0].Content, "instance=x") || !strings.Contains(ms[0].Content, "firing 1, resolved 0") || ms[0].ChatID != "quietroom" {
		t.Fatalf("%+v", ms[0])
	}
}

// A notification longer than one message goes as marked parts, in order,
// every alert line in one of them: split, never cut.
func TestLongNotificationSplitsIntoParts(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(baseConfig, "    mentions: [alice]\n", "    mentions: [alice]\n    max_alerts: 500\n", 1)
	h := start(t, cfg, nil)
	var hosts []string
	for i := range 120 {
		hosts = append(hosts, fmt.Sprintf("host-%03d.example.internal", i))
	}
	n := notification("Flood", hosts, nil)
	if code, b := h.post("/alertmanager/ops", mustJSON(t, n)); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	whole := digest(n, h.srv.loc, 500)
	parts := split(whole, 2048)
	if len(parts) < 3 {
		t.Fatalf("the test needs several parts, got %d", len(parts))
	}
	ms := h.wecomMessages(len(parts))
	var joined []string
	marker := regexp.MustCompile(`^\((\d+)/(\d+)\)\n`)
	for i, m := range ms {
		if len(m.Content) > 2048 {
			t.Fatalf("part %d is %d bytes", i, len(m.Content))
		}
		g := marker.FindStringSubmatch(m.Content)
		if g == nil || g[1] != strconv.Itoa(i+1) || g[2] != strconv.Itoa(len(parts)) {
			t.Fatalf("part %d starts %q", i, m.Content[:20])
		}
		joined = append(joined, strings.TrimPrefix(m.Content, g[0]))
	}
	if strings.Join(joined, "\n") != whole {
		t.Fatal("the parts do not read back to the digest")
	}
	for _, host := range hosts {
		if !strings.Contains(whole, "instance="+host+" ") {
			t.Fatalf("%s missing", host)
		}
	}
}

// The digest lists up to max_alerts alerts and says how many more,
// counting those Alertmanager left out.
func TestDigestMore(t *testing.T) {
	t.Parallel()
	n := notification("Many", []string{"a", "b", "c", "d"}, []string{"e"})
	n.TruncatedAlerts = 3
	got := digest(n, time.UTC, 2)
	want := "[FIRING:4] Many\nfiring 4, resolved 1, 3 more not sent by Alertmanager (max_alerts)\n" +
		"FIRING   2026-11-29 06:03:05 UTC  instance=a  disk almost full on a\n" +
		"FIRING   2026-11-29 06:04:05 UTC  instance=b  disk almost full on b\n+6 more"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// /send queues a message as given; the history tells what became of each
// notification, read from the store; /metrics counts them per route.
func TestSendHistoryMetrics(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil)
	if code, b := h.post("/send/ops", []byte(`{"title":"Deploy","text":"v1.2 is live"}`)); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := h.post("/send/ops", []byte(`{"markdown":"**bold**"}`)); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	n := mustJSON(t, notification("H", []string{"a"}, nil))
	h.post("/alertmanager/ops", n)
	h.post("/alertmanager/ops", n)
	ms := h.wecomMessages(3)
	if ms[0].Content != "Deploy\nv1.2 is live" || ms[1].Type != "markdown" || ms[1].Content != "**bold**" {
		t.Fatalf("%+v", ms[:2])
	}
	var hist []Record
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, b := h.get("/history/ops?limit=10")
		if code != 200 {
			t.Fatalf("history %d %s", code, b)
		}
		hist = nil
		if err := json.Unmarshal([]byte(b), &hist); err != nil {
			t.Fatal(err)
		}
		if len(hist) == 4 && hist[0].Delivery != nil && hist[0].Delivery.State == "sent" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(hist) != 4 || hist[0].Outcome != OutcomeDeduplicated || hist[1].Outcome != OutcomeQueued || len(hist[0].Jobs) != 1 || hist[0].Jobs[0] != hist[1].Jobs[0] ||
		hist[1].Delivery.State != "sent" || hist[3].Source != SourceSend || hist[3].Title != "Deploy" {
		t.Fatalf("history %+v", hist)
	}
	// The watcher counts deliveries at its next look.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, m := h.get("/metrics"); strings.Contains(m, `imbridge_gateway_delivered_total{route="ops"} 3`) {
			break
		}
	}
	_, metrics := h.get("/metrics")
	for _, want := range []string{
		`imbridge_gateway_received_total{route="ops",source="alertmanager"} 2`,
		`imbridge_gateway_received_total{route="ops",source="send"} 2`,
		`imbridge_gateway_deduplicated_total{route="ops"} 1`,
		`imbridge_gateway_queued_total{route="ops"} 3`,
		`imbridge_gateway_delivered_total{route="ops"} 3`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A notification the platform refuses for good is a dead letter, counted
// with its error class, and the history says so.
func TestDeadLetterCounted(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil)
	h.wc.Faults.FailNext(1, 93000) // the webhook key refused
	h.post("/alertmanager/ops", mustJSON(t, notification("Dead", []string{"a"}, nil)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, metrics := h.get("/metrics")
		if strings.Contains(metrics, `imbridge_gateway_dead_lettered_total{class="unauthorized",route="ops"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter counted:\n%s", metrics)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, b := h.get("/history/ops")
	if !strings.Contains(b, `"state":"failed","error_class":"unauthorized"`) {
		t.Fatalf("history %s", b)
	}
}

// A graceful shutdown answers what is in flight, then delivers what was
// queued before Serve returns.
func TestShutdownDelivers(t *testing.T) {
	t.Parallel()
	h := start(t, baseConfig, nil)
	h.wc.Faults.Latency(300 * time.Millisecond)
	for _, g := range []string{"S1", "S2", "S3"} {
		if code, _ := h.post("/alertmanager/ops", mustJSON(t, notification(g, []string{"a"}, nil))); code != 200 {
			t.Fatal(code)
		}
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := len(h.wc.Messages()); got != 3 {
		t.Fatalf("%d of 3 queued notifications delivered by the time Serve returned", got)
	}
	if _, err := http.Get(h.url + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}
