package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
accounts:
  - ops wecom://693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa
routes:
  - name: ops
    account: ops
`

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.Timezone != "UTC" || cfg.MaxBody != DefaultMaxBody || cfg.DedupWindow != DefaultDedupWindow ||
		cfg.History != DefaultHistory || cfg.QueueLimit != DefaultQueueLimit || cfg.Routes[0].MaxAlerts != DefaultMaxAlerts ||
		!cfg.Routes[0].SendResolved() || cfg.ClaimTimeout != DefaultClaimTimeout {
		t.Fatalf("%+v", cfg)
	}
}

// Unknown keys are errors naming their line; no error shows a value that
// could be a secret.
func TestConfigErrors(t *testing.T) {
	t.Setenv("GW_SET", "x")
	for _, c := range []struct {
		name, yml, want string
	}{
		{"unknown key", minimal + "    tokn: abc\n", "line 7: field tokn not found in a route"},
		{"unknown top key", "listn: x\n" + minimal, "line 1: field listn not found"},
		{"wrong type", minimal + "    max_alerts: supersecretvalue\n", "line 7: cannot unmarshal !!str a value into int"},
		{"missing variable", minimal + "    token: ${GW_NOT_SET}\n", "routes[0].token: ${GW_NOT_SET} is not set"},
		{"no routes", "accounts: [x]\n", "routes: at least one route"},
		{"no accounts", "routes: [{name: a, account: b}]\n", "accounts: at least one"},
		{"bad name", strings.Replace(minimal, "name: ops", "name: o/ps", 1), `routes[0].name: "o/ps"`},
		{"twice", minimal + "  - name: ops\n    account: ops\n", `routes[1].name: "ops" again`},
		{"group and users", minimal + "    group: g\n    users: [u]\n", "group and users both set"},
		{"timezone", "timezone: Mars/Olympus\n" + minimal, `timezone: "Mars/Olympus"`},
		{"dedup window", "dedup_window: 10ms\n" + minimal, "dedup_window: 10ms, at least 1s"},
		{"not YAML", "routes: [\n", "did not find expected"},
	} {
		_, err := Parse([]byte(c.yml))
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "supersecretvalue") || strings.Contains(err.Error(), "693a91f6")) {
			t.Errorf("%s: the error shows a value: %v", c.name, err)
		}
	}
}

// ${NAME} comes from the environment, in any string.
func TestConfigEnvironment(t *testing.T) {
	t.Setenv("GW_KEY", "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa")
	t.Setenv("GW_TOKEN", "tok")
	cfg, err := Parse([]byte(`
accounts:
  - ops wecom://${GW_KEY}
routes:
  - name: ops
    account: ops
    token: Bearer-${GW_TOKEN}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Accounts[0] != "ops wecom://693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa" || cfg.Routes[0].Token != "Bearer-tok" {
		t.Fatalf("%+v", cfg)
	}
}

// New refuses what cannot work, naming the route: an unknown account,
// users on a webhook bot, mentions on TIM, a TIM route with no target, an
// account line that does not parse (without its secret), and a template
// that does not compile or run (its file and line).
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "fails.tmpl")
	if err := os.WriteFile(tmpl, []byte("ok\n{{ index .Alerts 5 }}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	accounts := "accounts:\n  - ops wecom://693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa\n  - tim tim://administrator:SECRETKEY0123456789@1400000000\n"
	for _, c := range []struct{ name, routes, want string }{
		{"unknown account", "  - {name: a, account: nope}\n", `routes[0] (a): gateway configuration: account "nope" is not one of accounts`},
		{"users on wecom", "  - {name: a, account: ops, users: [u]}\n", "users are TIM's"},
		{"mentions on tim", "  - {name: a, account: tim, users: [u], mentions: [x]}\n", "tim has no mentions"},
		{"tim without target", "  - {name: a, account: tim}\n", "no groupCode or userID"},
		{"broken template", "  - {name: a, account: ops, template: testdata/broken.tmpl}\n", "testdata/broken.tmpl:5: unclosed action started at testdata/broken.tmpl:4"},
		{"failing template", "  - {name: a, account: ops, template: " + tmpl + "}\n", "fails.tmpl:2:3: executing"},
		{"missing template", "  - {name: a, account: ops, template: nope.tmpl}\n", "nope.tmpl: no such file"},
	} {
		cfg, err := Parse([]byte(accounts + "routes:\n" + c.routes))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = New(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
			t.Errorf("%s: the secret is shown: %v", c.name, err)
		}
	}
	cfg, err := Parse([]byte("accounts:\n  - ops wecom:693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa\nroutes:\n  - {name: a, account: ops}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil || strings.Contains(err.Error(), "693a91f6") || !strings.Contains(err.Error(), "accounts line:1") {
		t.Fatalf("a mistyped account URL: %v", err)
	}
}

// A route's template runs on the notification with the helpers, in the
// configured zone; its truncation says so.
func TestTemplate(t *testing.T) {
	t.Parallel()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	tm, err := loadTemplate("testdata/custom.tmpl", loc)
	if err != nil {
		t.Fatal(err)
	}
	n := notification("Disk", []string{"h1"}, []string{"h2"})
	got, err := render(tm, TemplateData{Notification: n, Route: "ops", Firing: 1, Resolved: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := "FIRING ops: 1 firing, 1 resolved\n" +
		"2026-11-29 14:03:05 CST alertname=Disk instance=h1 disk almos… (truncated, 12 more characters)\n" +
		"2026-11-29 14:03:05 CST alertname=Disk instance=h2 disk almos… (truncated, 12 more characters)\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if truncate(3, "日本語です") != "日本語… (truncated, 2 more characters)" || truncate(10, "short") != "short" {
		t.Fatal("truncate counts characters, not bytes")
	}
}

// A template that fails on a real notification (not on the sample) does
// not lose it: the digest goes, saying the template failed.
func TestTemplateFailureFallsBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "second.tmpl")
	if err := os.WriteFile(p, []byte("{{ (index .Alerts 1).Status }}"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, "accounts:\nACCOUNTS\nroutes:\n  - {name: t, account: ops, template: "+p+"}\n", nil)
	if code, _ := h.post("/alertmanager/t", mustJSON(t, notification("One", []string{"a"}, nil))); code != 200 {
		t.Fatal(code)
	}
	ms := h.wecomMessages(1)
	if !strings.HasPrefix(ms[0].Content, "[FIRING:1] One\n") || !strings.Contains(ms[0].Content, "(the route's template failed: template: "+p+":1:4: executing") {
		t.Fatalf("%q", ms[0].Content)
	}
}

// A relative template path is taken from the configuration's directory.
func TestLoadTemplateBesideConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte("{{ .Status }}"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gw.yml")
	if err := os.WriteFile(path, []byte(minimal+"    template: t.tmpl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routes[0].Template != filepath.Join(dir, "t.tmpl") {
		t.Fatalf("%s", cfg.Routes[0].Template)
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
}
