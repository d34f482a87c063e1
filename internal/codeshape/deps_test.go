package codeshape

import (
	"os/exec"
	"strings"
	"testing"
)

// The library packages stay on the standard library plus go-querystring:
// code that imports them never compiles Redis, OpenTelemetry, cobra,
// YAML or Prometheus, which live in packages of their own (redisstate,
// otelobserver, cmd/imbridge, gateway).
func TestLibraryImportsStayStandard(t *testing.T) {
	library := []string{".", "./outbox", "./wecom", "./timchat", "./dingtalk", "./feishu", "./imtest", "./accounturl"}
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, library...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/imbridge/middleware") || strings.HasPrefix(pkg, "github.com/google/go-querystring/") {
			continue
		}
		t.Errorf("a library package depends on %s", pkg)
	}
}
