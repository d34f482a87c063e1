package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Client picks sending accounts and delivers pushes through their backends.
// It is safe for concurrent use.
type Client struct {
	mu       sync.RWMutex
	accounts []*accountState // replaced, never mutated in place

	timeout  time.Duration
	logger   *slog.Logger
	observer Observer     // nil: none
	fetch    *fetcher     // reads URL sources
	policy   SourcePolicy // of pushes without WithSourcePolicy
}

// NewClient builds a Client from opts, validating every account.
func NewClient(opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{timeout: DefaultTimeout}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	c := &Client{timeout: cfg.timeout, logger: cfg.logger, observer: cfg.observer, fetch: &fetcher{base: cfg.httpClient}, policy: trusted()}
	if cfg.policySet {
		c.policy = cfg.policy
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	for _, a := range cfg.accounts {
		if err := c.AddAccount(a); err != nil {
			return nil, err
		}
	}
	return c, nil
}

var defaultClient atomic.Pointer[Client]

// Default returns the Client used by the package-level helpers. It starts
// with no accounts; register them with Default().AddAccount or replace it
// with SetDefault.
func Default() *Client {
	if c := defaultClient.Load(); c != nil {
		return c
	}
	c, _ := NewClient()
	if defaultClient.CompareAndSwap(nil, c) {
		return c
	}
	return defaultClient.Load()
}

// SetDefault makes c the Client of the package-level helpers. A nil c
// resets it to a new empty Client.
func SetDefault(c *Client) {
	if c == nil {
		c, _ = NewClient()
	}
	defaultClient.Store(c)
}

// targetKind names the shape of a push target for logs.
func targetKind(groupCode, userID string) string {
	switch {
	case groupCode != "" && userID != "":
		return "group+user"
	case groupCode != "":
		return "group"
	case userID != "":
		return "user"
	}
	return "none"
}

func splitIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "|")
}

// errNilContext refuses a nil context: every helper takes one first.
var errNilContext = errors.New("middleware: nil context (use context.Background())")

// call is one helper call: the arguments every step of it names.
type call struct {
	helper, imType, groupCode, userID, title string
	items                                    []Item
	opts                                     []Option
	account                                  string // once resolved
}

// send is the one path of all six helpers. Every error it returns names
// the helper, the IM and the account (see prefix).
func (c *Client) send(ctx context.Context, cl *call) (n int, err error) {
	if ctx == nil {
		return c.refuse(ctx, cl, errNilContext)
	}
	if c.observer != nil {
		var end func(string, int, error)
		ctx, end = c.observe(ctx, cl)
		defer func() { end(cl.account, n, err) }() // after the prefix below: it sees the caller's error
	}
	defer func() {
		if err != nil {
			err = prefix(cl, err)
		}
	}()
	if c.logger.Enabled(ctx, slog.LevelInfo) || c.logger.Enabled(ctx, slog.LevelWarn) {
		start := time.Now()
		defer func() { c.logPush(ctx, cl, n, err, time.Since(start)) }()
	}
	p, err := c.prepare(ctx, cl)
	if err != nil {
		return 0, err
	}
	timeout := c.timeout
	if p.cfg.Timeout > 0 {
		timeout = p.cfg.Timeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if p.cfg.maxWaitSet {
		ctx = context.WithValue(ctx, maxWaitKey{}, p.cfg.maxWait)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnsent, err)
	}
	return sent(p.acct.Backend.Send(ctx, p.msg))
}

// prepared is a call that passed every check before I/O.
type prepared struct {
	cfg  *callConfig
	msg  *Message
	acct Account
}

// prepare runs what Do and Check run before any I/O: the options, the
// targets and items, the account, and the backend's Validator.
func (c *Client) prepare(ctx context.Context, cl *call) (prepared, error) {
	cfg := newCallConfig(cl.opts)
	if cfg.err != nil {
		return prepared{}, cfg.err
	}
	msg, err := c.message(cl, cfg)
	if err != nil {
		return prepared{}, err
	}
	acct, err := c.resolve(ctx, cl.imType, cfg.AccountID)
	if err != nil {
		return prepared{}, err
	}
	cl.account, msg.AccountID = acct.ID, acct.ID
	if v, ok := acct.Backend.(Validator); ok {
		if err := v.Validate(msg); err != nil {
			return prepared{}, err
		}
	}
	return prepared{cfg: cfg, msg: msg, acct: acct}, nil
}

// message checks the call's targets, title and items without network I/O
// and builds the Message backends receive, its sources parsed once.
func (c *Client) message(cl *call, cfg *callConfig) (*Message, error) {
	if err := validateTargets(cl.groupCode, cl.userID); err != nil {
		return nil, err
	}
	if !utf8.ValidString(cl.title) {
		return nil, fmt.Errorf("%w: title is not valid UTF-8", ErrInvalidItem)
	}
	policy := &c.policy // read only, never written after NewClient
	if cfg.Policy != nil {
		policy = cfg.Policy
	}
	sources, err := prepareItems(cl.items, cfg, *policy)
	if err != nil {
		return nil, err
	}
	return &Message{
		IM: cl.imType, GroupCode: cl.groupCode, UserID: cl.userID, Title: cl.title,
		Items: cl.items, Fields: cfg.Fields, Filename: cfg.Filename, MIME: cfg.MIME,
		Extras: cfg.Extras, IdempotencyKey: cfg.IdempotencyKey, Resume: cfg.Resume, fetch: c.fetch, policy: policy, sources: sources, progress: cfg.Progress,
	}, nil
}

// sent holds a backend to the contract: never a bare zero, never a
// negative count.
func sent(n int, err error) (int, error) {
	if n < 0 {
		n = 0
	}
	if n == 0 && err == nil {
		err = ErrNotSent
	}
	return n, err
}

// observe reports the call's start and returns the context it goes on
// with, carrying the Observer for the backends, and the report of its end.
// The report takes the account rather than keeping cl, which would then
// escape to the heap on every push, observed or not.
func (c *Client) observe(ctx context.Context, cl *call) (context.Context, func(account string, n int, err error)) {
	types := make([]ItemType, len(cl.items))
	for i, it := range cl.items {
		types[i] = it.Type
	}
	info := PushInfo{Helper: cl.helper, IM: cl.imType, Target: targetKind(cl.groupCode, cl.userID), Items: types, Start: time.Now()}
	ctx = ContextWithObserver(c.observer.PushStart(ctx, info), c.observer)
	return ctx, func(account string, n int, err error) {
		info.Account = account
		c.observer.PushEnd(ctx, info, PushResult{Sent: n, Err: err, Class: ErrorClass(err), Duration: time.Since(info.Start)})
	}
}

// prefix names the call in err, keeping its chain: errors.Is and errors.As
// see through it (a context's error included).
func prefix(cl *call, err error) error {
	if cl.account == "" {
		return fmt.Errorf("middleware: %s to %s: %w", cl.helper, cl.imType, err)
	}
	return fmt.Errorf("middleware: %s to %s as %s: %w", cl.helper, cl.imType, cl.account, err)
}

func (c *Client) logPush(ctx context.Context, cl *call, n int, err error, d time.Duration) {
	if ctx == nil {
		ctx = context.Background()
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	if !c.logger.Enabled(ctx, level) {
		return
	}
	types := make([]string, len(cl.items))
	for i, it := range cl.items {
		types[i] = string(it.Type)
	}
	attrs := []slog.Attr{
		slog.String("helper", cl.helper),
		slog.String("im", cl.imType),
		slog.String("account", cl.account),
		slog.String("target", targetKind(cl.groupCode, cl.userID)),
		slog.Any("items", types),
		slog.Int("sent", n),
		slog.Duration("duration", d),
	}
	if err != nil {
		// Backends keep secrets and message content out of their errors.
		attrs = append(attrs, slog.String("error_class", ErrorClass(err)), slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(ctx, level, "push", attrs...)
}

// Logger returns the logger pushes are recorded to (WithLogger), for code
// built on the Client that logs beside it, such as package outbox.
func (c *Client) Logger() *slog.Logger { return c.logger }
