package timchat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/redact"
	"github.com/imbridge/middleware/internal/retry"
)

// Regions and their API hosts. An SDKAppID lives in exactly one; the wrong
// one answers 70016 or 70020.
var regionHosts = map[string]string{
	"china":         "console.tim.qq.com",
	"singapore":     "adminapisgp.im.qcloud.com",
	"seoul":         "adminapikr.im.qcloud.com",
	"frankfurt":     "adminapiger.im.qcloud.com",
	"siliconvalley": "adminapiusa.im.qcloud.com",
	"jakarta":       "adminapiidn.im.qcloud.com",
	"tokyo":         "adminapijpn.im.qcloud.com",
}

// DefaultSigTTL is how long a generated UserSig is valid. It is renewed
// when a tenth of that is left.
const DefaultSigTTL = 24 * time.Hour

var _ middleware.Backend = (*Client)(nil)
var _ middleware.Validator = (*Client)(nil)

// Config says which app and admin account to send as.
type Config struct {
	// SDKAppID is the app's id from the Chat console.
	SDKAppID uint64
	// SecretKey signs UserSigs. Leave it empty only with UserSig.
	SecretKey string
	// Admin is an App admin account; requests are signed for it.
	Admin string
	// Region is one of china, singapore, seoul, frankfurt, siliconvalley,
	// jakarta, tokyo. Default: china.
	Region string
	// BaseURL overrides Region (a proxy, a gateway, an emulator).
	BaseURL string
	// UserSig is a pre-signed usersig for Admin, used instead of
	// SecretKey. It cannot be renewed: when it expires, sends fail.
	UserSig string
}

// String describes the config without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("timchat.Config{SDKAppID: %d, Admin: %q, Region: %q, BaseURL: %q, SecretKey: %s, UserSig: %s}",
		c.SDKAppID, c.Admin, c.Region, c.BaseURL, redactedIf(c.SecretKey), redactedIf(c.UserSig))
}

// GoString is String, so %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb print String.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue makes slog print the config without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("sdkappid", c.SDKAppID), slog.String("admin", c.Admin),
		slog.String("region", c.Region), slog.String("base_url", c.BaseURL))
}

func redactedIf(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED"
}

// Client sends through one app's admin account. It is safe for concurrent
// use.
type Client struct {
	cfg      Config
	base     string
	apiHost  string // of base, for reports
	http     *http.Client
	sig      *signer
	uploader Uploader
	retry    retry.Policy
	now      func() time.Time

	query atomic.Pointer[encodedQuery]
	// limiter keeps timpush/push calls more than a second apart per app,
	// in this process or across processes (WithLimiter).
	limiter    middleware.Limiter
	pushBudget []middleware.Budget
}

// Option configures New.
type Option func(*options) error

type options struct {
	limiter  middleware.Limiter
	hc       *http.Client
	uploader Uploader
	now      func() time.Time
	retry    retry.Policy
	sigTTL   time.Duration
}

// WithHTTPClient sends TIM REST requests through hc, which never follows a
// redirect whatever its CheckRedirect says. It is not the client that
// fetches media sources: that is middleware.WithHTTPClient. Default: a
// client over http.DefaultTransport, looked up at each request
// (HTTP(S)_PROXY and httpmock.Activate both work).
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error { o.hc = hc; return nil }
}

// WithLimiter keeps the broadcast spacing (timpush/push calls more than a
// second apart per app) in l, such as a Redis limiter that every process
// of the app shares (package redisstate). Default: a
// middleware.MemoryLimiter of this Client, on its clock.
func WithLimiter(l middleware.Limiter) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: timchat: WithLimiter(nil)", middleware.ErrInvalidOption)
		}
		o.limiter = l
		return nil
	}
}

// WithUploader hosts local media (paths, base64, Item.Data) so that their
// URLs can go into message elements. Default: none, and such media fail
// before anything is sent.
func WithUploader(u Uploader) Option {
	return func(o *options) error { o.uploader = u; return nil }
}

// WithClock sets the clock used to sign UserSigs and to space broadcasts
// (tests). Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: timchat: WithClock(nil)", middleware.ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithRetry sets the attempts of a transient failure (at least 1) and the
// first backoff, doubled with jitter each time. Default: 3 attempts, 200 ms.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(o *options) error {
		p, err := retry.New("timchat", attempts, backoff)
		o.retry = p
		return err
	}
}

// WithSigTTL sets the validity of generated UserSigs. Default:
// DefaultSigTTL.
func WithSigTTL(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Minute {
			return fmt.Errorf("%w: timchat: WithSigTTL(%s): at least a minute", middleware.ErrInvalidOption, d)
		}
		o.sigTTL = d
		return nil
	}
}

// New checks cfg and returns a Client.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := options{now: time.Now, retry: retry.Policy{Attempts: 3, Backoff: 200 * time.Millisecond}, sigTTL: DefaultSigTTL}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	base, err := cfg.check()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		base:     base,
		apiHost:  httpx.Host(base),
		http:     httpx.Client(o.hc),
		uploader: o.uploader,
		retry:    o.retry,
		now:      o.now,
		limiter:  o.limiter,
		sig: &signer{appID: cfg.SDKAppID, secret: cfg.SecretKey, admin: cfg.Admin, static: cfg.UserSig,
			ttl: o.sigTTL, now: o.now},
	}
	if c.limiter == nil {
		c.limiter = middleware.NewMemoryLimiter(o.now)
	}
	sum := sha256.Sum256([]byte("tim:" + strconv.FormatUint(cfg.SDKAppID, 10)))
	c.pushBudget = []middleware.Budget{{Key: "{tim:" + hex.EncodeToString(sum[:8]) + "}:push", Limit: 1, Window: pushGap}}
	return c, nil
}

// check validates the config and returns the API's base URL.
func (cfg Config) check() (string, error) {
	switch {
	case cfg.SDKAppID == 0:
		return "", errors.New("timchat: Config.SDKAppID is required")
	case cfg.Admin == "":
		return "", errors.New("timchat: Config.Admin is required")
	case cfg.SecretKey == "" && cfg.UserSig == "":
		return "", errors.New("timchat: Config needs SecretKey or UserSig")
	case cfg.SecretKey != "" && cfg.UserSig != "":
		return "", errors.New("timchat: Config has both SecretKey and UserSig; give one")
	case cfg.Region != "" && cfg.BaseURL != "":
		return "", errors.New("timchat: Config has both Region and BaseURL; give one")
	}
	if cfg.UserSig != "" {
		if _, _, err := DecodeUserSig(cfg.UserSig); err != nil {
			return "", errors.New("timchat: Config.UserSig is not a UserSig v2")
		}
	}
	return cfg.baseURL()
}

// baseURL is BaseURL, or the host of Region (china by default).
func (cfg Config) baseURL() (string, error) {
	if cfg.BaseURL != "" {
		if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("timchat: Config.BaseURL %q is not an http(s) URL", cfg.BaseURL)
		}
		return strings.TrimRight(cfg.BaseURL, "/"), nil
	}
	region := cfg.Region
	if region == "" {
		region = "china"
	}
	host, ok := regionHosts[strings.ToLower(region)]
	if !ok {
		return "", fmt.Errorf("timchat: unknown Region %q (china, singapore, seoul, frankfurt, siliconvalley, jakarta, tokyo)", cfg.Region)
	}
	return "https://" + host, nil
}

// String describes the client without its secrets.
func (c *Client) String() string {
	return "timchat.Client{base: " + c.base + ", " + c.cfg.String() + "}"
}

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue makes slog print the client without its secrets.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base", c.base), slog.Any("config", c.cfg.LogValue()))
}

// redact removes the secret key and the usersigs, in every spelling, from
// err and its whole chain. It is applied once, at the exported methods,
// and costs nothing on success.
func (c *Client) redact(err error) error {
	if err == nil {
		return nil
	}
	secrets := []string{c.cfg.SecretKey, c.cfg.UserSig}
	if cur := c.sig.cur.Load(); cur != nil {
		secrets = append(secrets, cur.sig, cur.prev)
	}
	return redact.New(secrets...).Error(err)
}

// Verify proves the Client's credentials without sending anything: it
// asks TIM, signed as the admin, whether the admin account is imported
// (v4/im_open_login_svc/account_check). A wrong SDKAppID, secret key,
// admin or region is middleware.ErrUnauthorized; an admin TIM does not
// know is too.
func (c *Client) Verify(ctx context.Context) error {
	body := map[string]any{"CheckItem": []map[string]string{{"UserID": c.cfg.Admin}}}
	r, err := c.post(ctx, "im_open_login_svc/account_check", body, nil)
	if err != nil {
		return c.redact(err)
	}
	for _, it := range r.ResultItem {
		if it.UserID == c.cfg.Admin && it.AccountStatus == "Imported" {
			return nil
		}
	}
	return fmt.Errorf("%w: timchat: the admin %q is not an imported account of app %d", middleware.ErrUnauthorized, c.cfg.Admin, c.cfg.SDKAppID)
}
