// Package accounturl turns account URLs into middleware.Accounts, for
// services and scripts that read their accounts from configuration:
//
//	wecom://KEY?rate=20                                 a WeCom group bot
//	https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY   the same, as WeCom shows it
//	tim://ADMIN:SECRETKEY@SDKAPPID?region=singapore     a Tencent Cloud IM app
//	dingtalk://TOKEN?secret=SEC...                      a DingTalk custom robot
//	https://oapi.dingtalk.com/robot/send?access_token=TOKEN    the same, as DingTalk shows it
//	feishu://HOOK_ID?secret=S&app_id=A&app_secret=AS    a Feishu custom bot (lark:// for Lark)
//	https://open.feishu.cn/open-apis/bot/v2/hook/HOOK_ID       the same, as Feishu shows it
//
// Secrets sit where tools expect them (a webhook key as the host of
// wecom://, a secret key in the password slot of tim://) and never appear
// in an error or in Redact's output. Settings go in the query:
//
//	wecom: rate (messages a minute per chat; 0 stops pacing), bot_rate,
//	       base (another origin: a gateway, an emulator; http:// allowed)
//	tim:   region, base, sig_ttl (a duration, like 24h)
//	dingtalk: secret (the signing secret), rate, base
//	feishu, lark: secret, app_id and app_secret (to send images), rate
//	       (a minute; the second's budget stays Feishu's), base
//
// An unknown setting is an error naming it. A file of accounts holds one
// account a line, "ID [default] URL"; "#" starts a comment.
package accounturl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/dingtalk"
	"github.com/imbridge/middleware/feishu"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// EnvURL is the environment variable of a one-off account: its URL.
const EnvURL = "IMBRIDGE_URL"

// ErrConfig is the category of every error of this package: a URL or a
// file that does not describe an account.
var ErrConfig = errors.New("account configuration")

// Parse returns the account id of rawURL describes. Errors show the URL
// redacted.
func Parse(id, rawURL string, opts ...Option) (middleware.Account, error) {
	set := settingsOf(opts)
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return middleware.Account{}, fmt.Errorf("%w %q: not a URL", ErrConfig, id)
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		// url.Values would drop the pair silently: a secret= lost would
		// send unsigned.
		return middleware.Account{}, fmt.Errorf("%w %q (%s): the settings after ? do not parse (a %% must be written %%25)", ErrConfig, id, Redact(rawURL))
	}
	if err := checkBase(u.Query().Get("base")); err != nil {
		return middleware.Account{}, fmt.Errorf("%w %q (%s): %w", ErrConfig, id, Redact(rawURL), err)
	}
	im, b, err := open(u, set)
	if errors.Is(err, errScheme) {
		return middleware.Account{}, fmt.Errorf("%w %q: %s is not a wecom://, wecombot://, tim://, dingtalk://, feishu://, lark:// or webhook URL", ErrConfig, id, Redact(rawURL))
	}
	if err != nil {
		return middleware.Account{}, fmt.Errorf("%w %q (%s): %w", ErrConfig, id, Redact(rawURL), err)
	}
	return middleware.Account{ID: id, IM: im, Backend: b}, nil
}

// checkBase refuses a base= that would carry the secret in clear to
// another machine: it must be https, or plain http on loopback (an
// emulator, a gateway on this host).
func checkBase(base string) error {
	if base == "" {
		return nil
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return errors.New("base= is not an http(s) URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return errors.New("base= is plain http to another host: the secret would travel in clear; use https, or a loopback address")
	}
	return errors.New("base= is not an http(s) URL")
}

// errScheme is open's word for a URL that names no platform.
var errScheme = errors.New("no platform's URL")

// open makes the backend a URL names, and returns its IM.
func open(u *url.URL, set settings) (string, middleware.Backend, error) {
	var b middleware.Backend
	var err error
	switch u.Scheme {
	case "wecom":
		b, err = parseWeCom(u.Host, u.Query(), "", set)
		return wecom.IM, b, err
	case "wecombot":
		// apprise's form: wecombot://KEY or wecombot://?key=KEY.
		q := u.Query()
		key := u.Host
		if key == "" {
			key = q.Get("key")
		}
		q.Del("key")
		b, err = parseWeCom(key, q, "", set)
		return wecom.IM, b, err
	case "tim":
		b, err = parseTIM(u, set)
		return timchat.IM, b, err
	case "dingtalk":
		b, err = parseDingTalk(u.Host, u.Query(), "", set)
		return dingtalk.IM, b, err
	case "feishu", "lark":
		base := ""
		if u.Scheme == "lark" {
			base = feishu.LarkBaseURL
		}
		b, err = parseFeishu(u.Host, u.Query(), base, set)
		return feishu.IM, b, err
	case "https", "http":
		return openWebhook(u, set)
	}
	return "", nil, errScheme
}

// openWebhook makes the backend of a platform's own webhook URL. Plain
// http is refused unless base= names the origin (an emulator, a gateway
// you trust): it would send the secret unencrypted.
func openWebhook(u *url.URL, set settings) (string, middleware.Backend, error) {
	q := u.Query()
	origin := u.Scheme + "://" + u.Host
	var im, secret, what string
	switch {
	case strings.HasSuffix(u.Path, "/cgi-bin/webhook/send"):
		im, secret, what = wecom.IM, q.Get("key"), "the key"
		q.Del("key")
		origin += strings.TrimSuffix(u.Path, "/cgi-bin/webhook/send")
	case strings.HasSuffix(u.Path, "/robot/send"):
		im, secret, what = dingtalk.IM, q.Get("access_token"), "the token"
		q.Del("access_token")
		origin += strings.TrimSuffix(u.Path, "/robot/send")
	case strings.Contains(u.Path, feishuHook):
		i := strings.Index(u.Path, feishuHook)
		im, secret, what = feishu.IM, u.Path[i+len(feishuHook):], "the hook id"
		origin += u.Path[:i]
	default:
		return "", nil, errScheme
	}
	if u.Scheme == "http" && !q.Has("base") {
		return "", nil, fmt.Errorf("http:// would send %s unencrypted: use https://, or name the origin with base= (an emulator, a gateway you trust)", what)
	}
	var b middleware.Backend
	var err error
	switch im {
	case wecom.IM:
		b, err = parseWeCom(secret, q, origin, set)
	case dingtalk.IM:
		b, err = parseDingTalk(secret, q, origin, set)
	default:
		b, err = parseFeishu(secret, q, origin, set)
	}
	return im, b, err
}

func parseWeCom(key string, q url.Values, base string, set settings) (middleware.Backend, error) {
	var opts []wecom.Option
	if set.limiter != nil {
		opts = append(opts, wecom.WithLimiter(set.limiter))
	}
	for k := range q {
		v := q.Get(k)
		switch k {
		case "rate", "bot_rate":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%q is not a number", k, v)
			}
			if k == "rate" {
				opts = append(opts, wecom.WithRateLimit(n))
			} else {
				opts = append(opts, wecom.WithBotRateLimit(n))
			}
		case "window":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("window=%q is not a duration", v)
			}
			opts = append(opts, wecom.WithRateWindow(d))
		case "base":
			base = v
		case "mentioned_list", "mentioned_mobile_list":
			// shoutrrr's: a mention of every push, which an account does
			// not carry here.
			return nil, fmt.Errorf("%s (shoutrrr's) is not an account setting here: mention per push (imbridge --mention, wecom.Mention)", k)
		default:
			return nil, fmt.Errorf("unknown wecom setting %q (rate, bot_rate, window, base)", k)
		}
	}
	if base != "" {
		opts = append(opts, wecom.WithBaseURL(base))
	}
	if key == "" {
		return nil, errors.New("no webhook key")
	}
	return wecom.New(key, opts...)
}

// feishuHook is the path of a Feishu or Lark webhook before its hook id.
const feishuHook = "/open-apis/bot/v2/hook/"

func parseDingTalk(token string, q url.Values, base string, set settings) (middleware.Backend, error) {
	var opts []dingtalk.Option
	if set.limiter != nil {
		opts = append(opts, dingtalk.WithLimiter(set.limiter))
	}
	for k := range q {
		v := q.Get(k)
		switch k {
		case "secret":
			opts = append(opts, dingtalk.WithSecret(v))
		case "rate":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("rate=%q is not a number", v)
			}
			opts = append(opts, dingtalk.WithRateLimit(n))
		case "base":
			base = v
		default:
			return nil, fmt.Errorf("unknown dingtalk setting %q (secret, rate, base)", k)
		}
	}
	if base != "" {
		opts = append(opts, dingtalk.WithBaseURL(base))
	}
	if token == "" {
		return nil, errors.New("no access token")
	}
	return dingtalk.New(token, opts...)
}

func parseFeishu(hookID string, q url.Values, base string, set settings) (middleware.Backend, error) {
	var opts []feishu.Option
	if set.limiter != nil {
		opts = append(opts, feishu.WithLimiter(set.limiter))
	}
	appID, appSecret := q.Get("app_id"), q.Get("app_secret")
	for k := range q {
		v := q.Get(k)
		switch k {
		case "secret":
			opts = append(opts, feishu.WithSecret(v))
		case "rate":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("rate=%q is not a number", v)
			}
			second := feishu.DefaultSecondRateLimit
			if n == 0 {
				second = 0
			}
			opts = append(opts, feishu.WithRateLimit(n, second))
		case "base":
			base = v
		case "app_id", "app_secret":
		default:
			return nil, fmt.Errorf("unknown feishu setting %q (secret, app_id, app_secret, rate, base)", k)
		}
	}
	if appID != "" || appSecret != "" {
		opts = append(opts, feishu.WithApp(appID, appSecret))
	}
	if base != "" {
		opts = append(opts, feishu.WithBaseURL(base))
	}
	if hookID == "" {
		return nil, errors.New("no hook id")
	}
	return feishu.New(hookID, opts...)
}

func parseTIM(u *url.URL, set settings) (middleware.Backend, error) {
	app, err := strconv.ParseUint(u.Hostname(), 10, 64)
	if err != nil {
		return nil, errors.New("the host of tim:// is the SDKAppID, a number")
	}
	secret, _ := u.User.Password()
	cfg := timchat.Config{SDKAppID: app, Admin: u.User.Username(), SecretKey: secret}
	var opts []timchat.Option
	if set.limiter != nil {
		opts = append(opts, timchat.WithLimiter(set.limiter))
	}
	q := u.Query()
	for k := range q {
		v := q.Get(k)
		switch k {
		case "region":
			cfg.Region = v
		case "base":
			cfg.BaseURL = v
		case "sig_ttl":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("sig_ttl=%q is not a duration", v)
			}
			opts = append(opts, timchat.WithSigTTL(d))
		case "upload":
			up, err := putUploader(v)
			if err != nil {
				return nil, err
			}
			opts = append(opts, timchat.WithUploader(up))
		default:
			return nil, fmt.Errorf("unknown tim setting %q (region, base, sig_ttl, upload)", k)
		}
	}
	return timchat.New(cfg, opts...)
}

// putUploader hosts TIM's media with a plain HTTP PUT under base (a bucket
// or a static host that takes PUTs, such as the media host of imbridge
// emulate): each file goes to base/MD5/NAME, once per content, and TIM's
// clients download it from the same URL.
func putUploader(base string) (timchat.Uploader, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, errors.New("upload= must be an http(s) URL without a query, under which files are PUT")
	}
	base = strings.TrimRight(base, "/")
	return timchat.NewPresignedPutUploader(func(_ context.Context, meta timchat.UploadMeta) (string, string, error) {
		to := base + "/" + meta.MD5 + "/" + url.PathEscape(meta.Name)
		return to, to, nil
	}, nil), nil
}

// Redact returns rawURL for people: only the parts known to be safe are
// shown. The key, token or hook id of wecom://, dingtalk://, feishu:// and
// lark:// and of the platforms' webhook URLs, a tim:// secret key, and the
// value of every setting but rate, bot_rate, base, region, sig_ttl and
// app_id are REDACTED. A URL of any other shape, mistyped ones included
// (wecom:KEY, tim://SECRET@APP, another service's webhook), is shown as
// its scheme and "…", so that no part of a secret can show.
func Redact(rawURL string) string {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return schemeOf(rawURL) + "…"
	}
	out, hidden := redactedBase(u)
	if out == nil {
		return hidden + "…"
	}
	if u.RawQuery == "" {
		return out.String()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return out.String() + "?…" // a query that does not parse could hold a secret anywhere
	}
	for k, vs := range q {
		if !safeSetting(k) {
			for i := range vs {
				vs[i] = "REDACTED"
			}
		}
	}
	out.RawQuery = q.Encode()
	return out.String()
}

// redactedBase is u without its query, its secret REDACTED. When u has a
// shape whose secret could sit anywhere it is nil, and hidden is what may
// be shown before "…": the scheme, or the scheme and host of another
// service's URL.
func redactedBase(u *url.URL) (out *url.URL, hidden string) {
	out = &url.URL{Scheme: u.Scheme}
	hidden = u.Scheme + "://"
	switch u.Scheme {
	case "wecom", "wecombot", "dingtalk", "feishu", "lark":
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.Host == "" {
			return nil, hidden
		}
		out.Host = "REDACTED"
	case "tim":
		_, hasSecret := u.User.Password()
		if _, err := strconv.ParseUint(u.Hostname(), 10, 64); u.User == nil || !hasSecret || err != nil || (u.Path != "" && u.Path != "/") {
			return nil, hidden // tim://SECRET@APP: the secret may be the user name
		}
		out.User, out.Host = url.UserPassword(u.User.Username(), "REDACTED"), u.Host
	case "https", "http":
		out.Host = u.Host
		switch {
		case strings.HasSuffix(u.Path, "/cgi-bin/webhook/send") || strings.HasSuffix(u.Path, "/robot/send"):
			out.Path = u.Path
		case strings.Contains(u.Path, feishuHook):
			out.Path = u.Path[:strings.Index(u.Path, feishuHook)+len(feishuHook)] + "REDACTED"
		default:
			return nil, hidden + u.Host + "/" // another service: where its secret sits is unknown
		}
	default:
		return nil, hidden
	}
	return out, ""
}

// safeSetting reports whether a setting's value is never a secret.
func safeSetting(k string) bool {
	switch k {
	case "rate", "bot_rate", "window", "base", "region", "sig_ttl", "app_id", "upload":
		return true
	}
	return false
}

// schemeOf is what a URL that does not parse shows: its scheme, when it
// has a plain one.
func schemeOf(raw string) string {
	scheme, _, ok := strings.Cut(strings.TrimSpace(raw), ":")
	if !ok || scheme == "" || len(scheme) > 10 {
		return ""
	}
	for _, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return ""
		}
	}
	return scheme + ":"
}

// Parsed is an account read from a file or the environment, with the URL
// it came from, redacted, for people.
type Parsed struct {
	middleware.Account
	Redacted string
	Source   string   // "path:line", or EnvURL
	Tags     []string // the line's tag:NAME words, for sending to a group of accounts
}

// ParseFile reads accounts, one a line: "ID [default] [tag:NAME...] URL". Blank lines
// and lines starting with "#" are skipped. An error names the line.
func ParseFile(r io.Reader, name string, opts ...Option) ([]Parsed, error) {
	var out []Parsed
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, n)
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: %s: want \"ID [default] [tag:NAME...] URL\"", ErrConfig, where)
		}
		id, raw := f[0], f[len(f)-1]
		def, tags, err := lineWords(f[1 : len(f)-1])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, where, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: %s: account %q again", ErrConfig, where, id)
		}
		seen[id] = true
		a, err := Parse(id, raw, opts...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		a.Default = def
		out = append(out, Parsed{Account: a, Redacted: Redact(raw), Source: where, Tags: tags})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
	}
	return out, nil
}

// lineWords reads the words of an account line between its ID and its
// URL: "default" at most once, and tag:NAME words. Anything else is an
// error that does not repeat the word (it could be part of a secret that
// a space split).
func lineWords(words []string) (def bool, tags []string, err error) {
	for i, w := range words {
		switch {
		case w == "default" && !def:
			def = true
		case strings.HasPrefix(w, "tag:") && len(w) > len("tag:"):
			tags = append(tags, strings.TrimPrefix(w, "tag:"))
		default:
			return false, nil, fmt.Errorf("word %d between the ID and the URL is neither \"default\" nor tag:NAME", i+2)
		}
	}
	return def, tags, nil
}

// Load reads the accounts of the file at path. warning is not empty when
// the file is readable by its group or others: it holds secrets.
func Load(path string) (accounts []Parsed, warning string, err error) {
	// Stat before opening: opening a FIFO waits for a writer, and a device
	// could feed the read without end.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%w: %s is not a regular file", ErrConfig, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer f.Close()
	if fi.Mode().Perm()&0o077 != 0 {
		warning = fmt.Sprintf("%s is readable by others (mode %s) and holds secrets: chmod 600 it", path, fi.Mode().Perm())
	}
	accounts, err = ParseFile(f, path)
	return accounts, warning, err
}

// FromEnv returns the account of EnvURL, as the default account "env", and
// false when the variable is not set.
func FromEnv() (Parsed, bool, error) {
	raw := os.Getenv(EnvURL)
	if raw == "" {
		return Parsed{}, false, nil
	}
	a, err := Parse("env", raw)
	if err != nil {
		return Parsed{}, true, fmt.Errorf("%s: %w", EnvURL, err)
	}
	a.Default = true
	return Parsed{Account: a, Redacted: Redact(raw), Source: EnvURL}, true, nil
}
