package accounturl

import (
	"context"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
)

// countingLimiter is a MemoryLimiter that counts its bookings and the
// windows it was asked for.
type countingLimiter struct {
	*middleware.MemoryLimiter
	n       atomic.Int64
	windows atomic.Value
}

func (c *countingLimiter) Reserve(ctx context.Context, b []middleware.Budget, maxWait time.Duration) (middleware.Reservation, error) {
	c.n.Add(1)
	c.windows.Store(b[0].Window)
	return c.MemoryLimiter.Reserve(ctx, b, maxWait)
}

// WithLimiter reaches every platform's backend: a push books on it. A
// WeCom URL's window= sets the budget's window.
func TestWithLimiter(t *testing.T) {
	wc := imtest.NewWeCom()
	defer wc.Close()
	tim := imtest.NewTIM()
	defer tim.Close()
	dt := imtest.NewDingTalk()
	defer dt.Close()
	fs := imtest.NewFeishu()
	defer fs.Close()
	urls := map[string]string{
		"wecom":    "wecom://" + wc.Key + "?window=10s&base=" + url.QueryEscape(wc.URL),
		"tim":      "tim://" + tim.Admin + ":" + tim.SecretKey + "@" + strconv.FormatUint(tim.SDKAppID, 10) + "?base=" + url.QueryEscape(tim.URL),
		"dingtalk": "dingtalk://" + dt.Token + "?secret=" + url.QueryEscape(dt.Secret) + "&base=" + url.QueryEscape(dt.URL),
		"feishu":   "feishu://" + fs.HookID + "?secret=" + url.QueryEscape(fs.Secret) + "&base=" + url.QueryEscape(fs.URL),
	}
	for im, raw := range urls {
		l := &countingLimiter{MemoryLimiter: middleware.NewMemoryLimiter(time.Now)}
		a, err := Parse("a", raw, WithLimiter(l))
		if err != nil {
			t.Fatalf("%s: %v", im, err)
		}
		a.Default = true
		c, err := middleware.NewClient(middleware.WithAccount(a))
		if err != nil {
			t.Fatal(err)
		}
		var opts []middleware.Option
		if im == "tim" {
			opts = append(opts, timchat.Broadcast(nil)) // TIM paces broadcasts (more than a second apart)
		}
		if _, err := c.Push(context.Background(), im, "", "", "", "booked", opts...); err != nil {
			t.Fatalf("%s: %v", im, err)
		}
		if l.n.Load() == 0 {
			t.Errorf("%s: the push did not book on the limiter given", im)
		}
		if w, _ := l.windows.Load().(time.Duration); im == "wecom" && w < 10*time.Second {
			t.Errorf("wecom: window %s, want 10s (and the pacer's margin)", w)
		}
	}
	if got := Redact(urls["wecom"]); got != "wecom://REDACTED?base="+url.QueryEscape(wc.URL)+"&window=10s" {
		t.Errorf("window is not a secret: %s", got)
	}
	if _, err := Parse("a", "wecom://"+key+"?window=soon"); err == nil {
		t.Error("window=soon parsed")
	}
}
