package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imbridge/middleware/gateway"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/testkit"
	"github.com/imbridge/middleware/timchat"
)

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is an OS process of the test: its output goes to a file, shown
// when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(t *testing.T, dir, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s's output:\n%s", name, tail(string(b), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitFor polls ok until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getJSON fetches url (with the bearer token, if given) into v.
func getJSON(url string, v any, token ...string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if len(token) > 0 {
		req.Header.Set("Authorization", "Bearer "+token[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// amAlert is an alert as Alertmanager's API v2 takes it.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL"`
}

// postAlerts posts the alerts to every peer, as Prometheus does.
func postAlerts(t *testing.T, peers []string, alerts []amAlert) {
	t.Helper()
	b, _ := json.Marshal(alerts)
	for _, p := range peers {
		resp, err := http.Post(p+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s /api/v2/alerts: %d", p, resp.StatusCode)
		}
	}
}

// The proof of imbridge serve: two real Alertmanager peers in an HA
// cluster (each sending every notification: peer timeout 0s) post to two
// gateway replicas (real processes) on one real redis-server, which
// deliver to the WeCom and TIM emulators. A flood of 500 alerts in 50
// groups to one chat arrives once per group, firing and resolved, with
// no 45009, though one replica is SIGKILLed mid-flood.
func TestAlertmanagerHAEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: real Alertmanager, Redis and gateway processes")
	}
	redisAddr := testkit.Redis(t)
	am := testkit.Alertmanager(t)
	dir := t.TempDir()
	imb := testkit.GoBuild(t, "github.com/imbridge/middleware/cmd/imbridge", dir)

	// WeCom's budget, 20 messages per chat per window, in a window
	// shortened to 8 s so that the test takes seconds, not minutes; the
	// gateway's account paces to the same window (with the pacer's 5%
	// margin: 400 ms for a request slowed on its way).
	const window = 8 * time.Second
	wc := imtest.NewWeCom(imtest.WithWeComRate(20), imtest.WithWeComWindow(window))
	defer wc.Close()
	tim := imtest.NewTIM()
	defer tim.Close()

	// Alertmanager authenticates with a bearer token read from a file, as
	// docs/gateway.md shows.
	token := "e2e-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e2eToken.Store(token)
	gwPorts := []int{freePort(t), freePort(t)}
	prefix := "e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var replicas []*proc
	for i, port := range gwPorts {
		cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
accounts:
  - ops wecom://%s?base=%s&rate=20&window=%s
  - tim tim://%s:${E2E_TIM_SECRET}@%d?base=%s
redis: redis://%s/0
redis_prefix: %s
claim_timeout: 2s
history: 1000
timezone: Asia/Shanghai
routes:
  - name: ops
    account: ops
    max_alerts: 3
    token: ${E2E_TOKEN}
  - name: oncall
    account: tim
    users: [alice]
    token: ${E2E_TOKEN}
`, port, wc.Key, url.QueryEscape(wc.URL), window, tim.Admin, tim.SDKAppID, url.QueryEscape(tim.URL), redisAddr, prefix)
		path := filepath.Join(dir, fmt.Sprintf("gw%d.yml", i))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, startProc(t, dir, fmt.Sprintf("serve%d", i), imb, []string{"E2E_TIM_SECRET=" + tim.SecretKey, "E2E_TOKEN=" + token},
			"serve", "--config", path, "--replica", fmt.Sprintf("replica-%d", i)))
	}
	for _, port := range gwPorts {
		waitFor(t, 20*time.Second, "the gateway to be ready", func() bool {
			code, _ := getJSON(fmt.Sprintf("http://127.0.0.1:%d/readyz", port), nil)
			return code == 200
		})
	}

	amCfg := fmt.Sprintf(`route:
  receiver: gw-ops
  group_by: ['alertname', 'grp']
  group_wait: 2s
  group_interval: 3s
  repeat_interval: 1h
  routes:
    - matchers: ['team="tim"']
      receiver: gw-tim
receivers:
  - name: gw-ops
    webhook_configs:
      - url: http://127.0.0.1:%[1]d/alertmanager/ops
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: %[3]s}
      - url: http://127.0.0.1:%[2]d/alertmanager/ops
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: %[3]s}
  - name: gw-tim
    webhook_configs:
      - url: http://127.0.0.1:%[1]d/alertmanager/oncall
        http_config:
          authorization: {type: Bearer, credentials_file: %[3]s}
      - url: http://127.0.0.1:%[2]d/alertmanager/oncall
        http_config:
          authorization: {type: Bearer, credentials_file: %[3]s}
`, gwPorts[0], gwPorts[1], tokenFile)
	amPath := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(amPath, []byte(amCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	web := []int{freePort(t), freePort(t)}
	cluster := []int{freePort(t), freePort(t)}
	var peers []string
	for i, name := range []string{"am-a", "am-b"} {
		startProc(t, dir, name, am, nil, "--config.file="+amPath, "--storage.path="+filepath.Join(dir, name),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", web[i]), fmt.Sprintf("--cluster.listen-address=127.0.0.1:%d", cluster[i]),
			fmt.Sprintf("--cluster.peer=127.0.0.1:%d", cluster[1-i]), "--cluster.peer-name="+name,
			"--cluster.peer-timeout=0s", "--cluster.settle-timeout=3s", "--log.level=warn")
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", web[i]))
	}
	for _, p := range peers {
		waitFor(t, 60*time.Second, p+" to join a cluster of two", func() bool {
			var st struct {
				Cluster struct {
					Status string            `json:"status"`
					Peers  []json.RawMessage `json:"peers"`
				} `json:"cluster"`
			}
			_, err := getJSON(p+"/api/v2/status", &st)
			return err == nil && st.Cluster.Status == "ready" && len(st.Cluster.Peers) == 2
		})
	}

	// The flood: 50 groups of 10 alerts to the WeCom chat, 2 groups to
	// TIM, posted to both peers with the same startsAt.
	// startsAt is now, not rounded down: an alert older than group_wait
	// flushes its group at once, before the rest of the group is in, and
	// Alertmanager would send that group twice (a notification of some of
	// its alerts, then one of all), which is its behaviour, not ours.
	now := time.Now().UTC().Truncate(time.Millisecond)
	var flood []amAlert
	for g := range 50 {
		for i := range 10 {
			flood = append(flood, amAlert{Labels: map[string]string{"alertname": "Flood", "grp": fmt.Sprintf("g%02d", g), "instance": fmt.Sprintf("host-%d", i)},
				Annotations: map[string]string{"summary": "disk almost full"}, StartsAt: now, GeneratorURL: "http://prometheus.example/graph"})
		}
	}
	for g := range 2 {
		flood = append(flood, amAlert{Labels: map[string]string{"alertname": "NodeDown", "team": "tim", "grp": fmt.Sprintf("t%d", g), "instance": "n1"},
			Annotations: map[string]string{"summary": "node unreachable"}, StartsAt: now, GeneratorURL: "http://prometheus.example/graph"})
	}
	start := time.Now()
	postAlerts(t, peers, flood)

	// Mid-flood, as soon as the first message is out (the replicas are
	// still taking copies, queueing and committing), replica 0 is killed
	// outright.
	waitFor(t, 30*time.Second, "the first message", func() bool { return len(wc.Messages()) >= 1 })
	if err := replicas[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica 0 SIGKILLed %s after the alerts were posted, with %d messages delivered", time.Since(start).Round(time.Millisecond), len(wc.Messages()))

	survivor := fmt.Sprintf("http://127.0.0.1:%d", gwPorts[1])
	firing := func(g int) string { return fmt.Sprintf("[FIRING:10] Flood (grp=g%02d)\n", g) }
	resolvedHeader := func(g int) string { return fmt.Sprintf("[RESOLVED] Flood (grp=g%02d)\n", g) }
	count := func(header string) int {
		n := 0
		for _, m := range wc.Messages() {
			n += strings.Count(m.Content+"\n", header)
		}
		return n
	}
	waitAll := func(header func(int) string, what string) {
		waitFor(t, 90*time.Second, what, func() bool {
			for g := range 50 {
				if count(header(g)) == 0 && !deadLetter(t, survivor, header(g)) {
					return false
				}
			}
			return true
		})
	}
	waitAll(firing, "every group's firing notification")
	t.Logf("50 firing notifications delivered %s after the alerts were posted, in %d messages", time.Since(start).Round(time.Millisecond), len(wc.Messages()))

	// Resolved: the same alerts, ended, to both peers.
	ended := now.Add(time.Second)
	for i := range flood {
		flood[i].EndsAt = &ended
	}
	time.Sleep(time.Until(ended.Add(100 * time.Millisecond)))
	postAlerts(t, peers, flood)
	waitAll(resolvedHeader, "every group's resolved notification")
	time.Sleep(window) // anything late or doubled would arrive now

	for g := range 50 {
		for _, h := range []string{firing(g), resolvedHeader(g)} {
			if n := count(h); n > 1 {
				t.Errorf("%q arrived %d times", strings.TrimSpace(h), n)
			}
		}
	}
	if n := wc.Answered(45009); n != 0 {
		t.Errorf("WeCom answered 45009 %d times", n)
	}
	texts := timTexts(tim)
	for g := range 2 {
		for _, h := range []string{fmt.Sprintf("[FIRING:1] NodeDown (grp=t%d)", g), fmt.Sprintf("[RESOLVED] NodeDown (grp=t%d)", g)} {
			if n := strings.Count(strings.Join(texts, "\n"), h); n != 1 {
				t.Errorf("TIM: %q arrived %d times", h, n)
			}
		}
	}
	// The shape of the digest, in the configured zone.
	for _, m := range wc.Messages() {
		if i := strings.Index(m.Content, firing(7)); i >= 0 {
			want := firing(7) + "firing 10, resolved 0\nFIRING   " + now.In(mustZone(t)).Format("2006-01-02 15:04:05 CST") + "  instance=host-"
			if !strings.HasPrefix(m.Content[i:], want) || !strings.Contains(m.Content[i:], "\n+7 more") {
				t.Errorf("digest of g07:\n%s", m.Content[i:min(len(m.Content), i+400)])
			}
		}
	}
	// Alertmanager's bearer token, read from its file, was taken: no 401.
	if resp, err := http.Get(survivor + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `code="401"`) || !strings.Contains(string(b), "imbridge_gateway_deduplicated_total") {
			t.Errorf("metrics:\n%s", b)
		}
	}
	var hist []gateway.Record
	if _, err := getJSON(survivor+"/history/ops?limit=1000", &hist, token); err != nil {
		t.Fatal(err)
	}
	// Every notification is in the history, by its jobs: a replica killed
	// after queueing one may not have written its record, but the copies
	// that came after name the same jobs.
	outcomes := map[gateway.Outcome]int{}
	notifications := map[string]bool{}
	for _, r := range hist {
		outcomes[r.Outcome]++
		if len(r.Jobs) > 0 {
			notifications[r.Jobs[0]] = true
		}
	}
	t.Logf("%d WeCom messages for 100 notifications; history: %v, %d notifications; 45009: %d",
		len(wc.Messages()), outcomes, len(notifications), wc.Answered(45009))
	if len(notifications) < 100 || outcomes[gateway.OutcomeDeduplicated] == 0 {
		t.Errorf("history: %d notifications by their jobs, outcomes %v: want the 100 at least, and the HA copies deduplicated", len(notifications), outcomes)
	}
}

func mustZone(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var (
	histMu   sync.Mutex
	e2eToken atomic.Value // the token of the running end-to-end test's routes
)

// deadLetter reports whether the notification whose digest starts with
// header is a dead letter "maybe delivered": a job the killed replica may
// have sent just before it died, which the outbox never sends twice to
// WeCom (it does not deduplicate) and shows to a person instead. It is
// not lost: it is accounted for.
func deadLetter(t *testing.T, gw, header string) bool {
	histMu.Lock()
	defer histMu.Unlock()
	var hist []gateway.Record
	if _, err := getJSON(gw+"/history/ops?limit=1000", &hist, e2eToken.Load().(string)); err != nil {
		return false
	}
	for _, r := range hist {
		if r.Outcome == gateway.OutcomeQueued && r.Title+"\n" == header && r.Delivery != nil && r.Delivery.State == "maybe_delivered" {
			t.Logf("%q: a dead letter, maybe delivered (%s)", strings.TrimSpace(header), r.Delivery.Error)
			return true
		}
	}
	return false
}

func timTexts(tim *imtest.TIM) []string {
	var out []string
	for _, m := range tim.Messages() {
		for _, e := range m.Elements {
			if te, ok := e.MsgContent.(*timchat.TextElem); ok {
				out = append(out, te.Text)
			}
		}
	}
	return out
}
