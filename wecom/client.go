package wecom

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
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/redact"
	"github.com/imbridge/middleware/internal/retry"
)

// IM is the name of this platform in Account.IM, APIError.Backend and log
// records.
const IM = "wecom"

// DefaultBaseURL is the WeCom API origin.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

// minKeyLen is the shortest key New accepts.
const minKeyLen = 8

// DefaultRateLimit is the client-side pace per chat, in messages per
// minute: the current doc allows 100 per chat, but older docs, still what
// many bots meet, say 20 per bot; 20 per chat is safe under both.
const DefaultRateLimit = 20

// DefaultBotRateLimit is the client-side pace of a bot over all its chats,
// in messages per minute, as the doc gives it.
const DefaultBotRateLimit = 10000

var _ middleware.Backend = (*Client)(nil)
var _ middleware.Validator = (*Client)(nil)

// Client sends to one webhook. It is safe for concurrent use.
type Client struct {
	key     string
	secrets *redact.Set // the key's spellings, for redact
	scope   string      // a hash of the key, for cache keys shared across clients
	base    string
	host    string // of base, for reports
	http    *http.Client
	limiter middleware.Limiter // nil: no pacing
	pace    pace
	cache   MediaCache
	flight  *inflight
	retry   retry.Policy
	now     func() time.Time
	// boundary makes multipart boundaries; tests make it deterministic.
	boundary func() string
}

// Option configures New.
type Option func(*config) error

type config struct {
	base    string
	baseSet bool // WithBaseURL was given
	hc      *http.Client
	pace    pace
	limiter middleware.Limiter
	cache   MediaCache
	retry   retry.Policy
	now     func() time.Time
	noCache bool
}

// WithBaseURL sends to another origin (a proxy, a gateway, an emulator)
// instead of DefaultBaseURL. A base in the webhook URL passed to New is
// replaced too.
func WithBaseURL(base string) Option {
	return func(c *config) error {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: wecom: WithBaseURL: %q is not an http(s) URL", middleware.ErrInvalidOption, base)
		}
		c.base, c.baseSet = strings.TrimRight(base, "/"), true
		return nil
	}
}

// WithHTTPClient sends WeCom API requests through hc, which never follows
// a redirect whatever its CheckRedirect says. It is not the client that
// fetches media sources: that is middleware.WithHTTPClient. Default: a
// client over http.DefaultTransport, looked up at each request, so
// HTTP(S)_PROXY is honoured and httpmock.Activate intercepts it.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		c.hc = hc
		return nil
	}
}

// WithRateLimit paces sends to n messages per minute per chat (the bot's
// own group counts as one chat, and a push to several chats spends one of
// each); 0 turns pacing off, the per-bot budget too. A send whose wait
// would pass its deadline fails with a *middleware.LimitError
// (ErrRateLimited) without sending. The budgets live in the Client's
// Limiter: one Client per key in a process, or a shared Limiter
// (WithLimiter) across processes. Default: DefaultRateLimit.
func WithRateLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: wecom: WithRateLimit(%d): negative rate", middleware.ErrInvalidOption, n)
		}
		c.pace.perChat = n
		return nil
	}
}

// WithBotRateLimit paces all the bot's sends together to n messages per
// minute. Default: DefaultBotRateLimit.
func WithBotRateLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: wecom: WithBotRateLimit(%d): need at least 1", middleware.ErrInvalidOption, n)
		}
		c.pace.perBot = n
		return nil
	}
}

// WithRateWindow sets the length of the rate window, for tests against an
// emulator with a shortened window: the pacer's window, and how long a
// 45009 is waited out. Default: a minute, as WeCom counts.
func WithRateWindow(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: wecom: WithRateWindow(%s): must be positive", middleware.ErrInvalidOption, d)
		}
		c.pace.window = d
		return nil
	}
}

// WithLimiter keeps the rate budgets in l, such as a Redis limiter that
// several processes sharing the key use (package redisstate). Default: a
// middleware.MemoryLimiter of this Client, on its clock.
func WithLimiter(l middleware.Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: wecom: WithLimiter(nil): use WithRateLimit(0) to stop pacing", middleware.ErrInvalidOption)
		}
		c.limiter = l
		return nil
	}
}

// WithMediaCache stores media_ids in mc, so a shared store can serve several
// processes. nil turns caching off. Default: an in-memory cache.
func WithMediaCache(mc MediaCache) Option {
	return func(c *config) error {
		c.cache, c.noCache = mc, mc == nil
		return nil
	}
}

// WithRetry sets how many attempts a retryable failure gets (at least 1)
// and the first backoff, which doubles with jitter. Default: 3 attempts,
// 200 ms.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(c *config) error {
		p, err := retry.New("wecom", attempts, backoff)
		c.retry = p
		return err
	}
}

// WithClock sets the clock of the media cache and the pacer (tests).
// Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: wecom: WithClock(nil)", middleware.ErrInvalidOption)
		}
		c.now = now
		return nil
	}
}

// New returns a Client for the webhook keyOrURL: the bare key, or the whole
// webhook URL as WeCom shows it
// (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...).
func New(keyOrURL string, opts ...Option) (*Client, error) {
	key, base, err := parseKey(strings.TrimSpace(keyOrURL))
	if err != nil {
		return nil, err
	}
	cfg := config{base: base, pace: pace{perChat: DefaultRateLimit, perBot: DefaultBotRateLimit, window: time.Minute},
		retry: retry.Policy{Attempts: 3, Backoff: 200 * time.Millisecond}, now: time.Now}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(cfg.base, "http://") && !cfg.baseSet {
		return nil, errors.New("wecom: the webhook URL is http://, so the key would travel unencrypted: use https://, " +
			"or WithBaseURL for a test server or a gateway you trust")
	}
	sum := sha256.Sum256([]byte("wecom:" + key))
	c := &Client{
		key:      key,
		secrets:  redact.New(key),
		scope:    hex.EncodeToString(sum[:8]),
		base:     cfg.base,
		host:     httpx.Host(cfg.base),
		http:     httpx.Client(cfg.hc),
		limiter:  cfg.limiter,
		pace:     cfg.pace,
		cache:    cfg.cache,
		flight:   newInflight(),
		retry:    cfg.retry,
		now:      cfg.now,
		boundary: randomBoundary,
	}
	if c.cache == nil && !cfg.noCache {
		c.cache = NewMemoryCache()
	}
	c.pace.scope = "{wecom:" + c.scope + "}" // a Redis Cluster hash tag: one bot's budgets in one slot
	c.pace.reason = c.pace.describe()
	switch {
	case cfg.pace.perChat == 0:
		c.limiter = nil
	case c.limiter == nil:
		c.limiter = middleware.NewMemoryLimiter(cfg.now)
	}
	return c, nil
}

// parseKey accepts a bare key or a webhook URL. Errors never repeat the
// input: it is a secret.
func parseKey(s string) (key, base string, err error) {
	if s == "" {
		return "", "", errors.New("wecom: empty webhook key")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", "", errors.New("wecom: the webhook URL is not a valid http(s) URL")
		}
		if !strings.HasSuffix(u.Path, "/cgi-bin/webhook/send") {
			return "", "", errors.New("wecom: the webhook URL must be .../cgi-bin/webhook/send with a key parameter")
		}
		key = u.Query().Get("key")
		if key == "" {
			return "", "", errors.New("wecom: the webhook URL has no key parameter")
		}
		base = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/cgi-bin/webhook/send")
		s = key
	} else {
		if strings.ContainsAny(s, "/?=") || strings.Contains(s, "qyapi.") {
			return "", "", errors.New("wecom: the webhook URL has no scheme: it must start with https://")
		}
		base = DefaultBaseURL
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", errors.New("wecom: the webhook key may hold only letters, digits and '-'")
		}
	}
	// Real keys are UUIDs. A very short one could not be told apart from
	// ordinary text when it is scrubbed from errors.
	if len(s) < minKeyLen {
		return "", "", fmt.Errorf("wecom: the webhook key is shorter than %d characters", minKeyLen)
	}
	return s, base, nil
}

// String describes the client without its key.
func (c *Client) String() string { return "wecom.Client{base: " + c.base + ", key: REDACTED}" }

// GoString is String, so %#v does not print the key either.
func (c *Client) GoString() string { return c.String() }

// LogValue makes slog print the client without its key.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base", c.base), slog.String("key", "REDACTED"))
}

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

func (c *Client) sendURL() string {
	return c.base + "/cgi-bin/webhook/send?key=" + url.QueryEscape(c.key)
}

func (c *Client) uploadURL(typ string) string {
	return c.base + "/cgi-bin/webhook/upload_media?key=" + url.QueryEscape(c.key) + "&type=" + typ
}

// redact removes the key, in every spelling, from err and its whole
// chain. It is applied once, at the exported methods.
func (c *Client) redact(err error) error { return c.secrets.Error(err) }
