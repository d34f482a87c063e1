package dingtalk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/hook"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/redact"
)

// IM is the name of this platform in Account.IM, APIError.Backend and log
// records.
const IM = "dingtalk"

// DefaultBaseURL is the DingTalk API origin; InternationalBaseURL is the
// one of dingtalk.io. A webhook URL passed to New brings its own.
const (
	DefaultBaseURL       = "https://oapi.dingtalk.com"
	InternationalBaseURL = "https://oapi.dingtalk.io"
)

// sendPath is the robot's send endpoint under the base URL.
const sendPath = "/robot/send"

// DefaultRateLimit is the client-side pace of a robot, in messages per
// minute: DingTalk allows 20, and throttles the robot for ten minutes past
// them.
const DefaultRateLimit = 20

// Block is how long DingTalk throttles a robot that went over its budget
// (errcode 130101 or 410100): no message is sent to it before this passes.
const Block = 10 * time.Minute

var (
	_ middleware.Backend   = (*Client)(nil)
	_ middleware.Validator = (*Client)(nil)
)

// Client sends to one custom robot. It is safe for concurrent use.
type Client struct {
	token   string
	secret  string // "" when requests are not signed
	secrets *redact.Set
	base    string
	sender  hook.Sender
	budgets []middleware.Budget
	now     func() time.Time
	// blockedUntil is when the platform's ten-minute throttle ends, in
	// unix nanos; 0 when the robot is not throttled.
	blockedUntil atomic.Int64
}

// Option configures New.
type Option func(*config) error

type config struct {
	hook.Config
	rate int
}

// WithSecret signs every request with the robot's signing secret (the
// "SEC…" string of its security settings, used whole): a timestamp and an
// HMAC-SHA256 signature in the query. Default: unsigned, for robots secured
// by keywords or an IP allowlist.
func WithSecret(secret string) Option {
	return func(c *config) error { return c.SetSecret(IM, secret) }
}

// WithBaseURL sends to another origin (a proxy, a gateway, an emulator)
// instead of DefaultBaseURL or the webhook URL's. http:// is allowed here
// only: a token in a webhook URL never travels unencrypted unless the
// origin is named with this option.
func WithBaseURL(base string) Option {
	return func(c *config) error { return c.SetBase(IM, base) }
}

// WithHTTPClient sends DingTalk requests through hc, which never follows a
// redirect whatever its CheckRedirect says. Default: a client over
// http.DefaultTransport, looked up at each request, so HTTP(S)_PROXY is
// honoured and httpmock.Activate intercepts it.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		c.HC = hc
		return nil
	}
}

// WithRateLimit paces sends to n messages per minute (per rate window) for
// the robot; 0 turns pacing off. A send whose slot would pass its deadline
// fails with a *middleware.LimitError (ErrRateLimited) before anything is
// sent. Default: DefaultRateLimit.
func WithRateLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: dingtalk: WithRateLimit(%d): negative rate", middleware.ErrInvalidOption, n)
		}
		c.rate = n
		return nil
	}
}

// WithRateWindow sets the length of the rate window, for tests against an
// emulator with a shortened window. Default: a minute, as DingTalk counts.
func WithRateWindow(d time.Duration) Option {
	return func(c *config) error { return c.SetWindow(IM, d) }
}

// WithLimiter keeps the robot's budget in l, such as a Redis limiter that
// several processes sending to the robot share (package redisstate).
// Default: a middleware.MemoryLimiter of this Client.
func WithLimiter(l middleware.Limiter) Option {
	return func(c *config) error { return c.SetLimiter(IM, l, "WithRateLimit(0)") }
}

// WithRetry sets how many attempts a request that provably never left gets
// (at least 1) and the first backoff, which doubles with jitter. Nothing
// that may have been posted is retried. Default: 3 attempts, 200 ms.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) error { return c.SetRetry(IM, attempts, backoff) }
}

// WithClock sets the clock of the signature and the pacer (tests).
// Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { return c.SetClock(IM, now) }
}

// New returns a Client for the robot tokenOrURL: its access token, or the
// whole webhook URL as DingTalk shows it
// (https://oapi.dingtalk.com/robot/send?access_token=...).
func New(tokenOrURL string, opts ...Option) (*Client, error) {
	token, base, err := parseToken(strings.TrimSpace(tokenOrURL))
	if err != nil {
		return nil, err
	}
	cfg := config{Config: hook.NewConfig(base), rate: DefaultRateLimit}
	if err := hook.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	if err := cfg.CheckOrigin("dingtalk", "token"); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte("dingtalk:" + token))
	scope := "{dingtalk:" + hex.EncodeToString(sum[:8]) + "}" // a Redis Cluster hash tag
	c := &Client{token: token, secret: cfg.Secret, secrets: redact.New(token, cfg.Secret), base: cfg.Base, now: cfg.Now}
	c.sender = hook.Sender{IM: IM, API: sendPath, Host: httpx.Host(cfg.Base), HTTP: httpx.Client(cfg.HC), Retry: cfg.Retry,
		Decode: decodeReply}
	if cfg.rate > 0 {
		c.sender.Limiter = cfg.PacingLimiter()
		c.sender.Reason = fmt.Sprintf("%d messages per %s per robot", cfg.rate, cfg.Window)
		c.budgets = []middleware.Budget{hook.Budget(scope, "robot", cfg.rate, cfg.Window)}
	}
	return c, nil
}

// parseToken accepts a bare access token or a webhook URL. Errors never
// repeat the input: it is a secret.
func parseToken(s string) (token, base string, err error) {
	if s == "" {
		return "", "", errors.New("dingtalk: empty access token")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", "", errors.New("dingtalk: the webhook URL is not a valid http(s) URL")
		}
		if !strings.HasSuffix(u.Path, sendPath) {
			return "", "", errors.New("dingtalk: the webhook URL must be .../robot/send with an access_token parameter")
		}
		s = u.Query().Get("access_token")
		if s == "" {
			return "", "", errors.New("dingtalk: the webhook URL has no access_token parameter")
		}
		base = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, sendPath)
	} else {
		if strings.ContainsAny(s, "/?=&") || strings.Contains(s, "dingtalk.") {
			return "", "", errors.New("dingtalk: the webhook URL has no scheme: it must start with https://")
		}
		base = DefaultBaseURL
	}
	if !hook.TokenChars(s) {
		return "", "", errors.New("dingtalk: the access token may hold only letters, digits, '-' and '_'")
	}
	if len(s) < minTokenLen {
		return "", "", fmt.Errorf("dingtalk: the access token is shorter than %d characters", minTokenLen)
	}
	return s, base, nil
}

// minTokenLen is the shortest token New accepts: real ones are 64 hex
// digits, and a very short one could not be told apart from ordinary text
// when it is masked in errors.
const minTokenLen = 8

// sendURL is the URL of one attempt at now: signed when a secret is set.
func (c *Client) sendURL(now time.Time) string {
	q := url.Values{"access_token": {c.token}}
	if c.secret != "" {
		ts := now.UnixMilli()
		q.Set("timestamp", fmt.Sprint(ts))
		q.Set("sign", Sign(ts, c.secret))
	}
	return c.base + sendPath + "?" + q.Encode()
}

// String describes the client without its token or secret.
func (c *Client) String() string {
	return "dingtalk.Client{base: " + c.base + ", token: REDACTED, signed: " + fmt.Sprint(c.secret != "") + "}"
}

// GoString is String, so %#v does not print the token either.
func (c *Client) GoString() string { return c.String() }

// LogValue makes slog print the client without its token or secret.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base", c.base), slog.String("token", "REDACTED"), slog.Bool("signed", c.secret != ""))
}

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// redact removes the token and the secret, in every spelling, from err and
// its whole chain; it is applied once, at Send.
func (c *Client) redact(err error) error { return c.secrets.Error(err) }
