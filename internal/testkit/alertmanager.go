package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// AlertmanagerVersion is the Alertmanager the gateway's end-to-end test
// runs: the newest that builds with go install (later tags embed UI
// assets their module zip lacks; shared/reference/alerting.md).
const AlertmanagerVersion = "v0.31.1"

var amBuild struct {
	once sync.Once
	path string
	err  error
}

// Alertmanager returns the path of an alertmanager binary: $ALERTMANAGER_BIN
// (.ci/run builds it), or one built once with go install into the user's
// cache directory, which takes about a minute the first time. Outside CI a
// build that fails (no module proxy) skips t; in CI it fails t.
func Alertmanager(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ALERTMANAGER_BIN"); p != "" {
		return p
	}
	amBuild.once.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "imbridge-test", "alertmanager-"+AlertmanagerVersion)
		bin := filepath.Join(dir, "alertmanager")
		if _, err := os.Stat(bin); err == nil {
			amBuild.path = bin
			return
		}
		cmd := exec.Command("go", "install", "github.com/prometheus/alertmanager/cmd/alertmanager@"+AlertmanagerVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			amBuild.err = fmt.Errorf("go install alertmanager@%s: %v\n%s", AlertmanagerVersion, err, out)
			return
		}
		amBuild.path = bin
	})
	if amBuild.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(amBuild.err)
		}
		t.Skipf("%v; set ALERTMANAGER_BIN to an alertmanager %s binary to run this test", amBuild.err, AlertmanagerVersion)
	}
	return amBuild.path
}

// GoBuild builds the main package pkg into dir and returns the binary's
// path.
func GoBuild(t testing.TB, pkg, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
