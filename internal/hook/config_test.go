package hook

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imbridge/middleware"
)

// TestConfigRefusesBadValues: each setter refuses what its option cannot
// take, as ErrInvalidOption naming the platform and the option, and keeps
// what it can.
func TestConfigRefusesBadValues(t *testing.T) {
	t.Parallel()
	c := NewConfig("https://example.com")
	for name, err := range map[string]error{
		"WithSecret":     c.SetSecret("ding", " padded "),
		"WithBaseURL":    c.SetBase("ding", "ftp://example.com"),
		"WithRateWindow": c.SetWindow("ding", 0),
		"WithLimiter":    c.SetLimiter("ding", nil, "WithRateLimit(0)"),
		"WithRetry":      c.SetRetry("ding", 0, time.Second),
		"WithClock":      c.SetClock("ding", nil),
	} {
		if !errors.Is(err, middleware.ErrInvalidOption) || !strings.Contains(err.Error(), "ding") {
			t.Errorf("%s: %v, want ErrInvalidOption naming the platform", name, err)
		}
	}
	if err := c.SetBase("ding", "http://127.0.0.1:9/"); err != nil || c.Base != "http://127.0.0.1:9" || !c.BaseSet {
		t.Errorf("SetBase: %v, base %q set %v", err, c.Base, c.BaseSet)
	}
	if err := c.CheckOrigin("ding", "token"); err != nil {
		t.Errorf("an origin named by WithBaseURL may be http: %v", err)
	}
	plain := NewConfig("http://example.com")
	if err := plain.CheckOrigin("ding", "token"); err == nil || !strings.Contains(err.Error(), "token would travel unencrypted") {
		t.Errorf("a webhook URL's http origin: %v", err)
	}
	if plain.PacingLimiter() == nil {
		t.Error("no limiter given: one in memory")
	}
}
