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

	timeout time.Duration
	logger  *slog.Logger
	fetch   *fetcher     // reads URL sources
	policy  SourcePolicy // of pushes without WithSourcePolicy
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
	c := &Client{timeout: cfg.timeout, logger: cfg.logger, fetch: &fetcher{base: cfg.httpClient}, policy: trusted()}
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

// send is the one path of all six helpers. Every error it returns names
// the helper, the IM and the account (see prefix).
func (c *Client) send(ctx context.Context, helper, imType, groupCode, userID, title string, items []Item, opts []Option) (n int, err error) {
	if ctx == nil {
		return c.refuse(ctx, helper, imType, groupCode, userID, errNilContext)
	}
	var account string
	defer func() {
		if err != nil {
			err = prefix(helper, imType, account, err)
		}
	}()
	if c.logger.Enabled(ctx, slog.LevelInfo) || c.logger.Enabled(ctx, slog.LevelWarn) {
		start := time.Now()
		defer func() {
			c.logPush(ctx, helper, imType, account, groupCode, userID, items, n, err, time.Since(start))
		}()
	}

	cfg := newCallConfig(opts)
	if cfg.err != nil {
		return 0, cfg.err
	}
	if err := validateTargets(groupCode, userID); err != nil {
		return 0, err
	}
	policy := c.policy
	if cfg.policy != nil {
		policy = *cfg.policy
	}
	msg := &Message{
		IM: imType, GroupCode: groupCode, UserID: userID, Title: title,
		Items: items, Fields: cfg.fields, Filename: cfg.filename, MIME: cfg.mime,
		Extras: cfg.extras, fetch: c.fetch, policy: &policy,
	}
	if !utf8.ValidString(title) {
		return 0, fmt.Errorf("%w: title is not valid UTF-8", ErrInvalidItem)
	}
	if msg.sources, err = prepareItems(items, cfg, policy); err != nil {
		return 0, err
	}
	acct, err := c.resolve(ctx, imType, cfg.accountID)
	if err != nil {
		return 0, err
	}
	account = acct.ID
	msg.AccountID = acct.ID
	if v, ok := acct.Backend.(Validator); ok {
		if err := v.Validate(msg); err != nil {
			return 0, err
		}
	}

	timeout := c.timeout
	if cfg.timeoutSet {
		timeout = cfg.timeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err = acct.Backend.Send(ctx, msg)
	switch {
	case n < 0:
		n = 0
		if err == nil {
			err = ErrNotSent
		}
	case n == 0 && err == nil:
		err = ErrNotSent
	}
	return n, err
}

// prefix names the call in err, keeping its chain: errors.Is and errors.As
// see through it (a context's error included).
func prefix(helper, imType, account string, err error) error {
	if account == "" {
		return fmt.Errorf("middleware: %s to %s: %w", helper, imType, err)
	}
	return fmt.Errorf("middleware: %s to %s as %s: %w", helper, imType, account, err)
}

func (c *Client) logPush(ctx context.Context, helper, imType, account, groupCode, userID string, items []Item, n int, err error, d time.Duration) {
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
	types := make([]string, len(items))
	for i, it := range items {
		types[i] = string(it.Type)
	}
	attrs := []slog.Attr{
		slog.String("helper", helper),
		slog.String("im", imType),
		slog.String("account", account),
		slog.String("target", targetKind(groupCode, userID)),
		slog.Any("items", types),
		slog.Int("sent", n),
		slog.Duration("duration", d),
	}
	if err != nil {
		// Backends keep secrets and message content out of their errors.
		attrs = append(attrs, slog.String("error_class", errorClass(err)), slog.String("error", err.Error()))
	}
	c.logger.LogAttrs(ctx, level, "push", attrs...)
}
