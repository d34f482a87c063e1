package gateway

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrConfig is the category of every configuration error: a file that
// does not parse, an unknown key, a value out of range, a variable that is
// not set, a template that does not compile.
var ErrConfig = errors.New("gateway configuration")

// Config is the gateway's configuration, as imbridge serve --config reads
// it from YAML. Zero values take the defaults named on each field.
type Config struct {
	// Listen is the address to serve on. Default: 127.0.0.1:9097.
	Listen string `yaml:"listen"`
	// Accounts are account lines, as in an accounts file: "ID [default]
	// URL" (docs/accounts.md).
	Accounts []string `yaml:"accounts"`
	// Redis, when set, shares the budget, the outbox, the dedup marks and
	// the history across replicas (redis://HOST:PORT/DB). Without it they
	// live in this process, and what it queued dies with it.
	Redis string `yaml:"redis"`
	// RedisPrefix starts every key the gateway keeps in Redis, so that
	// gateways (or other users of the SDK) share one Redis apart. Default:
	// imbridge.
	RedisPrefix string `yaml:"redis_prefix"`
	// ClaimTimeout is how long, with Redis, the jobs of a replica that
	// stopped answering (killed, cut off) wait before another takes them
	// over. Default: 30s.
	ClaimTimeout time.Duration `yaml:"claim_timeout"`
	// Timezone is the zone the digest and templates print times in (an
	// IANA name). Default: UTC.
	Timezone string `yaml:"timezone"`
	// MaxBody is the largest request body taken, in bytes; larger ones
	// are answered 413. Default: 8 MiB (an Alertmanager group carries
	// every alert it holds unless max_alerts is set).
	MaxBody int64 `yaml:"max_body"`
	// DedupWindow is how long a notification's key is remembered, so
	// that its copies from Alertmanager's HA peers (and their retries)
	// are delivered once. Keep it longer than the peers' spread (position
	// × peer_timeout, plus retries) and shorter than repeat_interval, or
	// the reminders Alertmanager repeats are dropped too. Default: 10m.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// History is how many notifications of each route GET
	// /history/{route} keeps. Default: 200.
	History int `yaml:"history"`
	// QueueLimit is how many notifications of one route this replica may
	// hold queued and undelivered; past it the answer is 503 and the
	// sender retries. Default: 10000.
	QueueLimit int `yaml:"queue_limit"`
	// ShutdownTimeout bounds a graceful shutdown: requests in flight
	// finish, and what this replica queued is delivered or handed to the
	// store. Default: 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Routes are the destinations: each is served at /alertmanager/NAME,
	// /grafana/NAME and /send/NAME.
	Routes []Route `yaml:"routes"`
}

// Route is one destination: an account, a chat, and how notifications
// for it are written and checked.
type Route struct {
	// Name names the route in its URLs: letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	// Account is the ID of one of Config.Accounts.
	Account string `yaml:"account"`
	// Group is the chat or group id; "" is a webhook bot's own group.
	Group string `yaml:"group"`
	// Users are user ids (TIM), as an alternative to Group.
	Users []string `yaml:"users"`
	// Template is a Go text/template file that writes a notification
	// (a relative path is taken from the configuration file's directory);
	// empty: the built-in digest.
	Template string `yaml:"template"`
	// Mentions are who to mention when a notification fires (WeCom
	// userids, DingTalk user ids, Feishu open_ids).
	Mentions []string `yaml:"mentions"`
	// Resolved says whether resolved alerts are sent. Default: true.
	Resolved *bool `yaml:"resolved"`
	// Token, when set, is required as "Authorization: Bearer TOKEN".
	Token string `yaml:"token"`
	// GrafanaSecret, when set, is the HMAC-SHA256 secret Grafana signs
	// its webhook bodies with; unsigned or wrongly signed ones get 401.
	GrafanaSecret string `yaml:"grafana_secret"`
	// GrafanaTimestampHeader names the header of Grafana's signature
	// timestamp, when its contact point sends one: the signature then
	// covers "TIMESTAMP:BODY", and a timestamp over 5 minutes off is
	// refused.
	GrafanaTimestampHeader string `yaml:"grafana_timestamp_header"`
	// MaxAlerts is how many alerts the digest lists before "+K more".
	// Default: 20.
	MaxAlerts int `yaml:"max_alerts"`
}

// SendResolved is Resolved, true when not set.
func (r Route) SendResolved() bool { return r.Resolved == nil || *r.Resolved }

// Defaults.
const (
	DefaultListen          = "127.0.0.1:9097"
	DefaultMaxBody         = 8 << 20
	DefaultDedupWindow     = 10 * time.Minute
	DefaultHistory         = 200
	DefaultQueueLimit      = 10000
	DefaultShutdownTimeout = 20 * time.Second
	DefaultMaxAlerts       = 20
	DefaultClaimTimeout    = 30 * time.Second
)

// Load reads the configuration at path: YAML, unknown keys refused with
// their line, ${NAME} replaced by the environment's NAME, defaults set,
// values checked. No error shows a value: they may be secrets.
func Load(path string) (*Config, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrConfig, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// A template named by a relative path is beside the configuration,
	// wherever the gateway was started from.
	for i := range cfg.Routes {
		if t := cfg.Routes[i].Template; t != "" && !filepath.IsAbs(t) {
			cfg.Routes[i].Template = filepath.Join(filepath.Dir(path), t)
		}
	}
	return cfg, nil
}

// Parse reads a configuration from YAML, as Load does.
func Parse(b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s", ErrConfig, yamlError(err))
	}
	if err := cfg.expand(os.LookupEnv); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// quoted is a value yaml quotes in its errors (`...`): it could be a
// secret in the wrong place.
var quoted = regexp.MustCompile("`[^`]*`")

// yamlError is err without the values it quotes, and without Go's type
// names.
func yamlError(err error) string {
	s := quoted.ReplaceAllString(err.Error(), "a value")
	s = strings.ReplaceAll(s, "yaml: unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	s = strings.ReplaceAll(s, " in type gateway.Config", "")
	s = strings.ReplaceAll(s, " in type gateway.Route", " in a route")
	return s
}

// envRef is a ${NAME} in a value.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces every ${NAME} in the string values by the variable's
// value; a variable that is not set is an error naming the field and the
// variable, never the value around it.
func (c *Config) expand(lookup func(string) (string, bool)) error {
	var missing error
	ex := func(field string, s *string) {
		*s = envRef.ReplaceAllStringFunc(*s, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			v, ok := lookup(name)
			if !ok && missing == nil {
				missing = fmt.Errorf("%w: %s: ${%s} is not set in the environment", ErrConfig, field, name)
			}
			return v
		})
	}
	ex("listen", &c.Listen)
	ex("redis", &c.Redis)
	ex("redis_prefix", &c.RedisPrefix)
	ex("timezone", &c.Timezone)
	for i := range c.Accounts {
		ex(fmt.Sprintf("accounts[%d]", i), &c.Accounts[i])
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		at := fmt.Sprintf("routes[%d]", i)
		for _, f := range []struct {
			name string
			s    *string
		}{{"account", &r.Account}, {"group", &r.Group}, {"template", &r.Template}, {"token", &r.Token},
			{"grafana_secret", &r.GrafanaSecret}, {"grafana_timestamp_header", &r.GrafanaTimestampHeader}} {
			ex(at+"."+f.name, f.s)
		}
		for j := range r.Users {
			ex(fmt.Sprintf("%s.users[%d]", at, j), &r.Users[j])
		}
		for j := range r.Mentions {
			ex(fmt.Sprintf("%s.mentions[%d]", at, j), &r.Mentions[j])
		}
	}
	return missing
}

func (c *Config) setDefaults() {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.Timezone = cmp.Or(c.Timezone, "UTC")
	c.MaxBody = cmp.Or(c.MaxBody, DefaultMaxBody)
	c.DedupWindow = cmp.Or(c.DedupWindow, DefaultDedupWindow)
	c.History = cmp.Or(c.History, DefaultHistory)
	c.QueueLimit = cmp.Or(c.QueueLimit, DefaultQueueLimit)
	c.RedisPrefix = cmp.Or(c.RedisPrefix, "imbridge")
	c.ClaimTimeout = cmp.Or(c.ClaimTimeout, DefaultClaimTimeout)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	for i := range c.Routes {
		c.Routes[i].MaxAlerts = cmp.Or(c.Routes[i].MaxAlerts, DefaultMaxAlerts)
	}
}

// routeName is what a route's name may be: it is a path segment.
var routeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// check refuses values out of range, naming the field.
func (c *Config) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	switch {
	case len(c.Accounts) == 0:
		return bad("accounts: at least one account line")
	case len(c.Routes) == 0:
		return bad("routes: at least one route")
	case c.MaxBody < 1024:
		return bad("max_body: %d bytes is too small (at least 1024)", c.MaxBody)
	case c.DedupWindow < time.Second:
		return bad("dedup_window: %s, at least 1s", c.DedupWindow)
	case c.History < 1:
		return bad("history: %d, at least 1", c.History)
	case c.QueueLimit < 1:
		return bad("queue_limit: %d, at least 1", c.QueueLimit)
	case c.ClaimTimeout < time.Second:
		return bad("claim_timeout: %s, at least 1s", c.ClaimTimeout)
	case c.ShutdownTimeout < 0:
		return bad("shutdown_timeout: %s, negative", c.ShutdownTimeout)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		return bad("timezone: %q is not a time zone name", c.Timezone)
	}
	seen := map[string]bool{}
	for i, r := range c.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		switch {
		case !routeName.MatchString(r.Name):
			return bad("%s.name: %q: 1 to 64 letters, digits, '-' or '_'", at, r.Name)
		case seen[r.Name]:
			return bad("%s.name: %q again", at, r.Name)
		case r.Account == "":
			return bad("%s (%s).account: empty", at, r.Name)
		case r.Group != "" && len(r.Users) > 0:
			return bad("%s (%s): group and users both set: a route goes to one chat or to users", at, r.Name)
		case r.MaxAlerts < 1:
			return bad("%s (%s).max_alerts: %d, at least 1", at, r.Name, r.MaxAlerts)
		}
		seen[r.Name] = true
	}
	return nil
}
