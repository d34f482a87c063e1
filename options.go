package middleware

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Timing defaults.
const (
	// DefaultTimeout is the per-call timeout when neither WithTimeout nor
	// WithDefaultTimeout says otherwise, as in the autClaw helpers.
	DefaultTimeout = 5 * time.Second
	// SendAllowance is the time a push keeps, before its deadline, to send
	// and hear the answer once its budget slot comes (WaitTurn): a slot
	// later than that is refused at once, before sending, instead of
	// being granted at the deadline and sending a request whose answer
	// cannot come in time. When less than twice SendAllowance is left, a
	// push keeps half of what is left. The platforms answer a webhook in
	// tens to a few hundred milliseconds (the emulators' fault tests use
	// 50 ms); a second leaves room for a slow answer and a retry's backoff.
	SendAllowance = time.Second
)

// Option configures one helper call. The same Option type serves all six
// helpers. When an option is given twice, the last one wins; options never
// depend on their order otherwise.
type Option func(*callConfig)

// Settings are what a call's Options ask for, as values: what a queue
// stores of a push (Checked.Settings) and turns back into the same Options
// with Options.
type Settings struct {
	// AccountID is WithAccountID's; Filename and MIME are WithFilename's
	// and WithMIME's.
	AccountID, Filename, MIME string
	// Timeout is WithTimeout's; 0: not set.
	Timeout time.Duration
	// Fields are WithField's and WithOptions' body fields.
	Fields map[string]any
	// Policy is WithSourcePolicy's; nil: not set.
	Policy *SourcePolicy
	// IdempotencyKey is WithIdempotencyKey's; 0: not set.
	IdempotencyKey uint64
	// Extras are the backends' own options (BackendOption), in order; a
	// queue stores them through the backend's codec, never as they are.
	Extras []any `json:"-"`
	// Progress is WithProgress's; nil: not set. It cannot be stored.
	Progress func(done, total int64) `json:"-"`
	// Resume is how many of the push's messages an earlier try delivered
	// (PartialError.Resume): the backend sends the rest. 0: all of them.
	Resume int
}

// Options returns one Option for each value s holds, so that given
// after other options each of them wins as the last option does.
func (s Settings) Options() []Option {
	var opts []Option
	add := func(set bool, o Option) {
		if set {
			opts = append(opts, o)
		}
	}
	add(s.AccountID != "", WithAccountID(s.AccountID))
	add(s.Filename != "", WithFilename(s.Filename))
	add(s.MIME != "", WithMIME(s.MIME))
	add(s.Timeout != 0, WithTimeout(s.Timeout))
	if s.Policy != nil {
		opts = append(opts, WithSourcePolicy(*s.Policy))
	}
	add(s.IdempotencyKey != 0, WithIdempotencyKey(s.IdempotencyKey))
	add(s.Progress != nil, WithProgress(s.Progress))
	add(s.Resume > 0, resumeAfter(s.Resume))
	for _, k := range slices.Sorted(maps.Keys(s.Fields)) {
		opts = append(opts, WithField(k, s.Fields[k]))
	}
	for _, x := range s.Extras {
		opts = append(opts, BackendOption(x))
	}
	return opts
}

type callConfig struct {
	Settings
	maxWait    time.Duration
	maxWaitSet bool
	err        error
}

func (c *callConfig) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func newCallConfig(opts []Option) *callConfig {
	c := &callConfig{}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c
}

// WithAccountID picks the sending account of this call explicitly
// (selection rule 1); WithAccount, a ClientOption, registers one.
// An unknown id, or one of another IM, fails with ErrUnknownAccount; an
// offline one with ErrAccountOffline. There is never a silent fallback.
// Default: the account is chosen by the other selection rules.
func WithAccountID(id string) Option {
	return func(c *callConfig) { c.AccountID = id }
}

// WithFilename sets the display file name of the media item. It beats
// Item.Name and the name taken from the source. In PushMixed it applies
// only when the message holds exactly one media item. Default: Item.Name,
// then the base name of the path or URL, then a name made from the item's
// type and MIME type.
func WithFilename(name string) Option {
	return func(c *callConfig) { c.Filename = name }
}

// WithMIME sets the MIME type of the media item. It beats Item.MIME and
// sniffing. In PushMixed it applies only when the message holds exactly one
// media item. Default: Item.MIME, then the type sniffed from the content,
// with the file extension as tie-break.
func WithMIME(mime string) Option {
	return func(c *callConfig) { c.MIME = mime }
}

// WithTimeout bounds this call with context.WithTimeout: it can shorten the
// caller's deadline, never extend it. d <= 0 is ErrInvalidOption. Default:
// the Client's WithDefaultTimeout, 5 s unless changed.
func WithTimeout(d time.Duration) Option {
	return func(c *callConfig) {
		if d <= 0 {
			c.fail(fmt.Errorf("%w: WithTimeout(%s): timeout must be positive", ErrInvalidOption, d))
			return
		}
		c.Timeout = d
	}
}

// WithMaxWait bounds how long this call waits for its account's budget
// (a Limiter) before it sends: a slot further away is a *LimitError at
// once, with nothing booked and nothing sent, that says when one frees.
// 0 never waits. d < 0 is ErrInvalidOption. A queued push ignores it: the
// outbox waits for slots itself. Default: as long as the call's deadline
// allows.
func WithMaxWait(d time.Duration) Option {
	return func(c *callConfig) {
		if d < 0 {
			c.fail(fmt.Errorf("%w: WithMaxWait(%s): negative wait", ErrInvalidOption, d))
			return
		}
		c.maxWait, c.maxWaitSet = d, true
	}
}

// WithProgress calls f as media bytes stream to the platform (an upload)
// or are counted from a URL whose size the server did not say: done so
// far, and total (-1 when unknown). It runs on the push's goroutine; keep
// it quick (a progress bar, say). Default: none.
func WithProgress(f func(done, total int64)) Option {
	return func(c *callConfig) { c.Progress = f }
}

// WithIdempotencyKey names this push across attempts and processes: send
// it again with the same key (and content) and a platform that deduplicates
// drops the repeat (TIM: within 120 s to a user, 5 minutes to a group; see
// Deduplicator). WeCom does not deduplicate and ignores it. 0 is
// ErrInvalidOption. Default: fresh dedup fields for each push.
func WithIdempotencyKey(k uint64) Option {
	return func(c *callConfig) {
		if k == 0 {
			c.fail(fmt.Errorf("%w: WithIdempotencyKey(0): the key must not be 0", ErrInvalidOption))
			return
		}
		c.IdempotencyKey = k
	}
}

// WithField sets a key of the backend's request body, at the top level,
// like the JS helper's shallow merge of its options object. A later
// WithField of the same key wins. Default: no extra fields.
func WithField(key string, value any) Option {
	return func(c *callConfig) {
		if key == "" {
			c.fail(fmt.Errorf("%w: WithField: empty key", ErrInvalidOption))
			return
		}
		if c.Fields == nil {
			c.Fields = make(map[string]any)
		}
		c.Fields[key] = value
	}
}

// reserved are the keys of an autClaw options object that are not body
// fields, each with its spellings in order of precedence: when a map holds
// two spellings of one key, the first listed wins, whatever the map's order.
var reserved = []struct {
	spellings []string
	set       func(c *callConfig, v string)
}{
	{[]string{"account_id", "accountID", "accountId"}, func(c *callConfig, v string) { c.AccountID = v }},
	{[]string{"filename", "fileName", "file_name"}, func(c *callConfig, v string) { c.Filename = v }},
	{[]string{"mimeType", "mime_type"}, func(c *callConfig, v string) { c.MIME = v }},
}

// foldKey folds a key the way people misspell it: case and '_' ignored.
func foldKey(k string) string { return strings.ToLower(strings.ReplaceAll(k, "_", "")) }

// WithOptions reads an options object ported from a JS or Python plugin.
// The spellings account_id > accountID > accountId become WithAccountID;
// filename > fileName > file_name become WithFilename; mimeType >
// mime_type become WithMIME. When several spellings of one are given, the
// one first in that order wins. Those values must be strings. A key that
// is one of them but for case or '_' (accountid, Account_ID, MimeType) is
// ErrInvalidOption naming the accepted spellings: it would otherwise go
// out as a body field, silently. Every other key becomes WithField.
// Default: nothing.
func WithOptions(m map[string]any) Option {
	return func(c *callConfig) {
		taken := make(map[string]bool, len(reserved))
		for _, r := range reserved {
			for _, k := range r.spellings {
				taken[k] = true
			}
			for _, k := range r.spellings {
				v, ok := m[k]
				if !ok {
					continue
				}
				s, isString := v.(string)
				if !isString {
					c.fail(fmt.Errorf("%w: WithOptions: %q must be a string, got %T", ErrInvalidOption, k, v))
					return
				}
				r.set(c, s)
				break
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys) // errors and fields in one order, run after run
		for _, k := range keys {
			if taken[k] {
				continue
			}
			for _, r := range reserved {
				if foldKey(k) == foldKey(r.spellings[0]) {
					c.fail(fmt.Errorf("%w: WithOptions: key %q is not a spelling the helpers accept; use one of %s",
						ErrInvalidOption, k, strings.Join(r.spellings, ", ")))
					return
				}
			}
			WithField(k, m[k])(c)
		}
	}
}

// ClientOption configures a Client at construction. See NewClient.
type ClientOption func(*clientConfig) error

type clientConfig struct {
	accounts   []Account
	timeout    time.Duration
	logger     *slog.Logger
	httpClient *http.Client
	policy     SourcePolicy
	policySet  bool
	observer   Observer
}

// WithAccount registers an account at construction, as AddAccount does.
// To pick the account of one call, use the Option WithAccountID.
func WithAccount(a Account) ClientOption {
	return func(c *clientConfig) error {
		c.accounts = append(c.accounts, a)
		return nil
	}
}

// WithDefaultTimeout sets the timeout of every call that has no
// WithTimeout. 0 means no timeout beyond the caller's context; a negative
// value is an error. Default: DefaultTimeout (5 s).
func WithDefaultTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: WithDefaultTimeout(%s): negative timeout", ErrInvalidOption, d)
		}
		c.timeout = d
		return nil
	}
}

// WithLogger sets the logger that gets one record per push: account, IM,
// target kind, item types, count, duration, and the error and its class,
// never message content or secrets. Successes log at Info, failures at
// Warn. Default: records are discarded.
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *clientConfig) error {
		c.logger = l
		return nil
	}
}

// WithHTTPClient sets the client that fetches http(s) media sources; the
// source policy (WithDefaultSourcePolicy) applies on top of it. It is not
// the client of the platforms' APIs: give that to the backend
// (wecom.WithHTTPClient, timchat.WithHTTPClient). Default: net/http's
// defaults, with http.DefaultTransport looked up at each fetch (so
// httpmock.Activate intercepts it).
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *clientConfig) error {
		c.httpClient = hc
		return nil
	}
}
