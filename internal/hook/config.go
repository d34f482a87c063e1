package hook

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/retry"
)

// Config is what the webhook backends' options share. Each backend's
// config embeds it, so that each of those options is one call here, with
// the same checks and messages on every platform.
type Config struct {
	Base    string // the origin, from the webhook URL or WithBaseURL
	BaseSet bool   // WithBaseURL named it: plain http is then allowed
	Secret  string
	HC      *http.Client
	Window  time.Duration
	Limiter middleware.Limiter
	Retry   retry.Policy
	Now     func() time.Time
}

// NewConfig returns the defaults: the origin base, a minute's window, 3
// attempts from 200 ms, time.Now.
func NewConfig(base string) Config {
	return Config{Base: base, Window: time.Minute, Retry: retry.Policy{Attempts: 3, Backoff: 200 * time.Millisecond}, Now: time.Now}
}

func invalid(im, format string, args ...any) error {
	return fmt.Errorf("%w: %s: "+format, append([]any{middleware.ErrInvalidOption, im}, args...)...)
}

// SetSecret is WithSecret: the signing secret, used whole.
func (c *Config) SetSecret(im, secret string) error {
	if strings.TrimSpace(secret) != secret || secret == "" {
		return invalid(im, "WithSecret: the secret is empty or has spaces around it")
	}
	c.Secret = secret
	return nil
}

// SetBase is WithBaseURL: another http(s) origin.
func (c *Config) SetBase(im, base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(im, "WithBaseURL: %q is not an http(s) URL", base)
	}
	c.Base, c.BaseSet = strings.TrimRight(base, "/"), true
	return nil
}

// SetWindow is WithRateWindow.
func (c *Config) SetWindow(im string, d time.Duration) error {
	if d <= 0 {
		return invalid(im, "WithRateWindow(%s): must be positive", d)
	}
	c.Window = d
	return nil
}

// SetLimiter is WithLimiter; stop says how to turn pacing off instead.
func (c *Config) SetLimiter(im string, l middleware.Limiter, stop string) error {
	if l == nil {
		return invalid(im, "WithLimiter(nil): use %s to stop pacing", stop)
	}
	c.Limiter = l
	return nil
}

// SetRetry is WithRetry.
func (c *Config) SetRetry(im string, attempts int, backoff time.Duration) error {
	p, err := retry.New(im, attempts, backoff)
	c.Retry = p
	return err
}

// SetClock is WithClock.
func (c *Config) SetClock(im string, now func() time.Time) error {
	if now == nil {
		return invalid(im, "WithClock(nil)")
	}
	c.Now = now
	return nil
}

// Apply runs opts on cfg in order, skipping nil ones, and stops at the
// first error.
func Apply[T any, O ~func(*T) error](cfg *T, opts []O) error {
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(cfg); err != nil {
			return err
		}
	}
	return nil
}

// CheckOrigin refuses a webhook URL's plain-http origin unless WithBaseURL
// named it: what would travel unencrypted.
func (c *Config) CheckOrigin(im, what string) error {
	if strings.HasPrefix(c.Base, "http://") && !c.BaseSet {
		return errors.New(im + ": the webhook URL is http://, so the " + what + " would travel unencrypted: use https://, " +
			"or WithBaseURL for a test server or a gateway you trust")
	}
	return nil
}

// PacingLimiter is the Limiter of the budgets: WithLimiter's, else one
// in memory on the Config's clock.
func (c *Config) PacingLimiter() middleware.Limiter {
	if c.Limiter != nil {
		return c.Limiter
	}
	return middleware.NewMemoryLimiter(c.Now)
}
