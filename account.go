package middleware

import (
	"context"
	"fmt"
)

// Account is one sending identity: a bot of one IM, delivered through a
// Backend.
type Account struct {
	// ID identifies the account in WithAccountID and Origin.AccountID.
	ID string
	// IM is the imType this account sends for.
	IM string
	// Default marks the IM's default account (selection rules 3 and 4).
	// An IM has at most one.
	Default bool
	// Backend delivers the account's messages.
	Backend Backend
}

// OriginKind says what triggered the code that pushes.
type OriginKind int

// The kinds of trigger. A context with no Origin behaves as OriginCron.
const (
	// OriginCron is a scheduled job.
	OriginCron OriginKind = iota
	// OriginMessage is an incoming chat message.
	OriginMessage
	// OriginFake is a synthetic trigger, such as a test or a console.
	OriginFake
	// OriginRoute is an HTTP route of the bot runtime.
	OriginRoute
)

// String returns the kind's name.
func (k OriginKind) String() string {
	switch k {
	case OriginCron:
		return "cron"
	case OriginMessage:
		return "message"
	case OriginFake:
		return "fake"
	case OriginRoute:
		return "route"
	}
	return fmt.Sprintf("OriginKind(%d)", int(k))
}

// Origin describes the trigger of the current request. It decides selection
// rule 2: a push to the IM a message came from is sent by the account that
// received the message.
type Origin struct {
	// Kind is the trigger.
	Kind OriginKind
	// IM is, for a message trigger, the IM the message came from.
	IM string
	// AccountID is, for a message trigger, the account that received it.
	AccountID string
}

type originKey struct{}

// WithOrigin returns a copy of ctx that carries o. Set it where an incoming
// message is handled; every push made with that context then follows rule 2.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the Origin carried by ctx, and whether there was one.
func OriginFrom(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

type accountState struct {
	Account
	online bool
}

func validateAccount(a Account) error {
	switch {
	case a.ID == "":
		return fmt.Errorf("middleware: account: empty ID")
	case a.IM == "":
		return fmt.Errorf("middleware: account %q: empty IM", a.ID)
	case a.Backend == nil:
		return fmt.Errorf("middleware: account %q: nil Backend", a.ID)
	}
	return nil
}

// AddAccount registers a, online. Its ID must be new, and an IM has at most
// one Default account. It may run while pushes are in flight.
func (c *Client) AddAccount(a Account) error {
	if err := validateAccount(a); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.accounts {
		if s.ID == a.ID {
			return fmt.Errorf("middleware: account %q already registered", a.ID)
		}
		if a.Default && s.Default && s.IM == a.IM {
			return fmt.Errorf("middleware: account %q: IM %q already has default account %q", a.ID, a.IM, s.ID)
		}
	}
	// Copy on write: Resolve reads the slice under RLock and never sees it
	// change under it.
	next := make([]*accountState, len(c.accounts), len(c.accounts)+1)
	copy(next, c.accounts)
	c.accounts = append(next, &accountState{Account: a, online: true})
	return nil
}

// RemoveAccount unregisters the account. Pushes already past selection
// finish with it. An unknown id is ErrUnknownAccount.
func (c *Client) RemoveAccount(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.accounts {
		if s.ID == id {
			next := make([]*accountState, 0, len(c.accounts)-1)
			next = append(next, c.accounts[:i]...)
			c.accounts = append(next, c.accounts[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownAccount, id)
}

// SetOnline marks the account online or offline. Offline accounts are
// skipped by rules 2 to 5 and refused by WithAccountID. An unknown id is
// ErrUnknownAccount.
func (c *Client) SetOnline(accountID string, online bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.accounts {
		if s.ID == accountID {
			cp := *s
			cp.online = online
			next := make([]*accountState, len(c.accounts))
			copy(next, c.accounts)
			next[i] = &cp
			c.accounts = next
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownAccount, accountID)
}

// Accounts returns the registered accounts in registration order.
func (c *Client) Accounts() []Account {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Account, len(c.accounts))
	for i, s := range c.accounts {
		out[i] = s.Account
	}
	return out
}

// Resolve answers "which account would send this" without sending, by the
// five selection rules, in order:
//
//  1. WithAccountID given: that account. Unknown, or of another IM:
//     ErrUnknownAccount. Offline: ErrAccountOffline.
//  2. ctx carries a message Origin whose IM is imType: the account that
//     received the message, if it is registered for imType and online.
//  3. Cron, fake and route triggers (and no Origin at all): the IM's
//     default account, if online.
//  4. Cross-IM push (a message from another IM): the same default account.
//  5. Otherwise the first online account of the IM, in registration order.
//
// With no account left: ErrNoAccount when the IM has no account at all,
// ErrAccountOffline when it has some and none is online.
func (c *Client) Resolve(ctx context.Context, imType string, opts ...Option) (Account, error) {
	if ctx == nil {
		return Account{}, errNilContext
	}
	cfg := newCallConfig(opts)
	if cfg.err != nil {
		return Account{}, cfg.err
	}
	return c.resolve(ctx, imType, cfg.AccountID)
}

func (c *Client) resolve(ctx context.Context, imType, accountID string) (Account, error) {
	if imType == "" {
		return Account{}, fmt.Errorf("%w: imType is empty", ErrInvalidTarget)
	}
	c.mu.RLock()
	accounts := c.accounts
	c.mu.RUnlock()

	// Rule 1.
	if accountID != "" {
		return explicitAccount(accounts, imType, accountID)
	}

	// Rule 2.
	if o, ok := OriginFrom(ctx); ok && o.Kind == OriginMessage && o.IM == imType && o.AccountID != "" {
		if s := findAccount(accounts, o.AccountID); s != nil && s.IM == imType && s.online {
			return s.Account, nil
		}
	}

	// Rules 3 and 4: the IM's default account.
	var any bool
	for _, s := range accounts {
		if s.IM == imType {
			any = true
			if s.Default && s.online {
				return s.Account, nil
			}
		}
	}
	if !any {
		return Account{}, fmt.Errorf("%w: %q", ErrNoAccount, imType)
	}

	// Rule 5.
	for _, s := range accounts {
		if s.IM == imType && s.online {
			return s.Account, nil
		}
	}
	return Account{}, fmt.Errorf("%w: every account of IM %q is offline", ErrAccountOffline, imType)
}

// explicitAccount is rule 1: the account named, or why it cannot send.
// Never a silent fallback.
func explicitAccount(accounts []*accountState, imType, id string) (Account, error) {
	s := findAccount(accounts, id)
	switch {
	case s == nil:
		return Account{}, fmt.Errorf("%w: %q is not registered", ErrUnknownAccount, id)
	case s.IM != imType:
		return Account{}, fmt.Errorf("%w: %q sends for IM %q, not %q", ErrUnknownAccount, id, s.IM, imType)
	case !s.online:
		return Account{}, fmt.Errorf("%w: %q", ErrAccountOffline, id)
	}
	return s.Account, nil
}

func findAccount(accounts []*accountState, id string) *accountState {
	for _, s := range accounts {
		if s.ID == id {
			return s
		}
	}
	return nil
}
