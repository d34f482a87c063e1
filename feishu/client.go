package feishu

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/hook"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/redact"
)

// IM is the name of this platform in Account.IM, APIError.Backend and log
// records. Lark, Feishu's international edition, is the same platform on
// another origin (LarkBaseURL).
const IM = "feishu"

// DefaultBaseURL is Feishu's API origin; LarkBaseURL is Lark's. A webhook
// URL passed to New brings its own.
const (
	DefaultBaseURL = "https://open.feishu.cn"
	LarkBaseURL    = "https://open.larksuite.com"
)

// hookPath is the custom bot's webhook path under the base URL; the hook
// id follows it.
const hookPath = "/open-apis/bot/v2/hook/"

// Feishu's budgets of a custom bot: 100 requests a minute and 5 a second.
const (
	DefaultRateLimit       = 100
	DefaultSecondRateLimit = 5
)

var (
	_ middleware.Backend   = (*Client)(nil)
	_ middleware.Validator = (*Client)(nil)
)

// Client sends to one custom bot. It is safe for concurrent use.
type Client struct {
	hookID  string
	secret  string // "" when requests are not signed
	secrets *redact.Set
	base    string
	sender  hook.Sender
	budgets []middleware.Budget
	app     *app // nil without WithApp: no images
	now     func() time.Time
}

// Option configures New.
type Option func(*config) error

type config struct {
	hook.Config
	appID, appSecret  string
	perMin, perSecond int
}

// WithSecret signs every request with the bot's signing secret: a
// timestamp in seconds and a signature in the body. Default: unsigned, for
// bots secured by keywords or an IP allowlist, or not at all.
func WithSecret(secret string) Option {
	return func(c *config) error { return c.SetSecret(IM, secret) }
}

// WithApp lets the client send images: a custom bot cannot upload, so an
// app of the same tenant (its App ID and App Secret, with the bot
// capability and the im:resource permission) uploads them and the bot
// sends the image_key. Tokens are fetched and renewed ahead of expiry;
// keys are reused for the same image bytes. Default: no app, and an image
// is ErrUnsupported.
func WithApp(appID, appSecret string) Option {
	return func(c *config) error {
		if appID == "" || appSecret == "" {
			return fmt.Errorf("%w: feishu: WithApp: the app id and secret are both required", middleware.ErrInvalidOption)
		}
		c.appID, c.appSecret = appID, appSecret
		return nil
	}
}

// WithBaseURL sends to another origin instead of DefaultBaseURL or the
// webhook URL's: LarkBaseURL for Lark, a proxy, a gateway, an emulator.
// http:// is allowed here only.
func WithBaseURL(base string) Option {
	return func(c *config) error { return c.SetBase(IM, base) }
}

// WithHTTPClient sends Feishu requests through hc, which never follows a
// redirect whatever its CheckRedirect says. Default: a client over
// http.DefaultTransport, looked up at each request.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		c.HC = hc
		return nil
	}
}

// WithRateLimit paces sends to perMinute messages a minute (a rate window)
// and perSecond a second; 0, 0 turns pacing off. A send whose slot would
// pass its deadline fails with a *middleware.LimitError before anything is
// sent. Default: DefaultRateLimit, DefaultSecondRateLimit.
func WithRateLimit(perMinute, perSecond int) Option {
	return func(c *config) error {
		if perMinute < 0 || perSecond < 0 || (perMinute == 0) != (perSecond == 0) {
			return fmt.Errorf("%w: feishu: WithRateLimit(%d, %d): both positive, or both 0 to stop pacing", middleware.ErrInvalidOption, perMinute, perSecond)
		}
		c.perMin, c.perSecond = perMinute, perSecond
		return nil
	}
}

// WithRateWindow sets the length of the minute window (the second window
// keeps its share of it), for tests against an emulator with shortened
// windows. Default: a minute.
func WithRateWindow(d time.Duration) Option {
	return func(c *config) error { return c.SetWindow(IM, d) }
}

// WithLimiter keeps the bot's budgets in l, such as a Redis limiter that
// several processes share (package redisstate). Default: a
// middleware.MemoryLimiter of this Client.
func WithLimiter(l middleware.Limiter) Option {
	return func(c *config) error { return c.SetLimiter(IM, l, "WithRateLimit(0, 0)") }
}

// WithRetry sets how many attempts a request that provably never left, or
// an upload, gets (at least 1) and the first backoff, which doubles with
// jitter. Nothing that may have been posted is retried. Default: 3
// attempts, 200 ms.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) error { return c.SetRetry(IM, attempts, backoff) }
}

// WithClock sets the clock of the signature, the token cache and the pacer
// (tests). Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { return c.SetClock(IM, now) }
}

// New returns a Client for the bot hookIDOrURL: the hook id (the last
// segment of its webhook URL), or the whole webhook URL as Feishu or Lark
// shows it (https://open.feishu.cn/open-apis/bot/v2/hook/...).
func New(hookIDOrURL string, opts ...Option) (*Client, error) {
	id, base, err := parseHook(strings.TrimSpace(hookIDOrURL))
	if err != nil {
		return nil, err
	}
	cfg := config{Config: hook.NewConfig(base), perMin: DefaultRateLimit, perSecond: DefaultSecondRateLimit}
	if err := hook.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	if err := cfg.CheckOrigin("feishu", "hook id"); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte("feishu:" + id))
	scope := "{feishu:" + hex.EncodeToString(sum[:8]) + "}"
	hc := httpx.Client(cfg.HC)
	c := &Client{hookID: id, secret: cfg.Secret, secrets: redact.New(id, cfg.Secret, cfg.appSecret), base: cfg.Base, now: cfg.Now}
	c.sender = hook.Sender{IM: IM, API: "/open-apis/bot/v2/hook", Host: httpx.Host(cfg.Base), HTTP: hc, Retry: cfg.Retry,
		Decode: decodeReply, WaitOnce: rateWindow}
	if cfg.perMin > 0 {
		c.sender.Limiter = cfg.PacingLimiter()
		second := cfg.Window / 60
		c.sender.Reason = fmt.Sprintf("%d messages per %s and %d per %s per bot", cfg.perMin, cfg.Window, cfg.perSecond, second)
		c.budgets = []middleware.Budget{hook.Budget(scope, "minute", cfg.perMin, cfg.Window), hook.Budget(scope, "second", cfg.perSecond, second)}
	}
	if cfg.appID != "" {
		c.app = newApp(cfg.Base, cfg.appID, cfg.appSecret, hc, cfg.Retry, cfg.Now)
	}
	return c, nil
}

// parseHook accepts a bare hook id or a webhook URL (Feishu's or Lark's).
// Errors never repeat the input: it is a secret.
func parseHook(s string) (id, base string, err error) {
	if s == "" {
		return "", "", errors.New("feishu: empty hook id")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", "", errors.New("feishu: the webhook URL is not a valid http(s) URL")
		}
		i := strings.Index(u.Path, hookPath)
		if i < 0 || u.RawQuery != "" {
			return "", "", errors.New("feishu: the webhook URL must be .../open-apis/bot/v2/hook/HOOK_ID")
		}
		s = u.Path[i+len(hookPath):]
		base = u.Scheme + "://" + u.Host + u.Path[:i]
	} else {
		if strings.ContainsAny(s, "/?=&") || strings.Contains(s, "feishu.") || strings.Contains(s, "larksuite.") {
			return "", "", errors.New("feishu: the webhook URL has no scheme: it must start with https://")
		}
		base = DefaultBaseURL
	}
	if !hook.TokenChars(s) {
		return "", "", errors.New("feishu: the hook id may hold only letters, digits, '-' and '_'")
	}
	if len(s) < minHookLen {
		return "", "", fmt.Errorf("feishu: the hook id is shorter than %d characters", minHookLen)
	}
	return s, base, nil
}

// minHookLen is the shortest hook id New accepts: real ones are UUIDs,
// and a very short one could not be told apart from text when masked.
const minHookLen = 8

func (c *Client) hookURL() string { return c.base + hookPath + c.hookID }

// String describes the client without its hook id or secrets.
func (c *Client) String() string {
	return fmt.Sprintf("feishu.Client{base: %s, hook: REDACTED, signed: %t, app: %t}", c.base, c.secret != "", c.app != nil)
}

// GoString is String, so %#v does not print the hook id either.
func (c *Client) GoString() string { return c.String() }

// LogValue makes slog print the client without its secrets.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base", c.base), slog.String("hook", "REDACTED"), slog.Bool("signed", c.secret != ""))
}

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

func (c *Client) redact(err error) error { return c.secrets.Error(err) }
