package middleware

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveRules(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	msgFrom := func(im, acct string) context.Context {
		return WithOrigin(context.Background(), Origin{Kind: OriginMessage, IM: im, AccountID: acct})
	}
	kind := func(k OriginKind) context.Context {
		return WithOrigin(context.Background(), Origin{Kind: k})
	}
	tests := []struct {
		name     string
		accounts []Account
		offline  []string
		ctx      context.Context
		im       string
		opts     []Option
		want     string
		wantErr  error
	}{
		{name: "rule 1 explicit wins over origin and default",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "q2", IM: "qq"}, {ID: "q3", IM: "qq"}},
			ctx:      msgFrom("qq", "q2"), im: "qq", opts: []Option{WithAccountID("q3")}, want: "q3"},
		{name: "rule 1 unknown id",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}},
			ctx:      context.Background(), im: "qq", opts: []Option{WithAccountID("nope")}, wantErr: ErrUnknownAccount},
		{name: "rule 1 account of another IM",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "w1", IM: "wecom"}},
			ctx:      context.Background(), im: "qq", opts: []Option{WithAccountID("w1")}, wantErr: ErrUnknownAccount},
		{name: "rule 1 offline is an error, never a fallback",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "q2", IM: "qq"}},
			offline:  []string{"q2"},
			ctx:      context.Background(), im: "qq", opts: []Option{WithAccountID("q2")}, wantErr: ErrAccountOffline},
		{name: "rule 1 via WithOptions accountId spelling",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "q2", IM: "qq"}},
			ctx:      context.Background(), im: "qq", opts: []Option{WithOptions(map[string]any{"accountId": "q2"})}, want: "q2"},
		{name: "rule 2 same IM uses the receiving account",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "q2", IM: "qq"}},
			ctx:      msgFrom("qq", "q2"), im: "qq", want: "q2"},
		{name: "rule 2 receiving account offline falls through to default",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "q2", IM: "qq"}},
			offline:  []string{"q2"},
			ctx:      msgFrom("qq", "q2"), im: "qq", want: "q1"},
		{name: "rule 2 receiving account unregistered falls through to default",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}},
			ctx:      msgFrom("qq", "gone"), im: "qq", want: "q1"},
		{name: "rule 2 origin account registered for another IM falls through",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "w1", IM: "wecom"}},
			ctx:      msgFrom("qq", "w1"), im: "qq", want: "q1"},
		{name: "rule 3 cron uses default",
			accounts: []Account{{ID: "q0", IM: "qq"}, {ID: "q1", IM: "qq", Default: true}},
			ctx:      kind(OriginCron), im: "qq", want: "q1"},
		{name: "rule 3 fake uses default",
			accounts: []Account{{ID: "q0", IM: "qq"}, {ID: "q1", IM: "qq", Default: true}},
			ctx:      kind(OriginFake), im: "qq", want: "q1"},
		{name: "rule 3 route uses default",
			accounts: []Account{{ID: "q0", IM: "qq"}, {ID: "q1", IM: "qq", Default: true}},
			ctx:      kind(OriginRoute), im: "qq", want: "q1"},
		{name: "rule 3 no origin behaves as cron",
			accounts: []Account{{ID: "q0", IM: "qq"}, {ID: "q1", IM: "qq", Default: true}},
			ctx:      context.Background(), im: "qq", want: "q1"},
		{name: "rule 3 message origin account ignored for cron kind",
			accounts: []Account{{ID: "q0", IM: "qq"}, {ID: "q1", IM: "qq", Default: true}},
			ctx:      WithOrigin(context.Background(), Origin{Kind: OriginCron, IM: "qq", AccountID: "q0"}), im: "qq", want: "q1"},
		{name: "rule 4 cross-IM uses target default",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}, {ID: "w0", IM: "wecom"}, {ID: "w1", IM: "wecom", Default: true}},
			ctx:      msgFrom("qq", "q1"), im: "wecom", want: "w1"},
		{name: "rule 5 no default: first online in registration order",
			accounts: []Account{{ID: "w0", IM: "wecom"}, {ID: "w1", IM: "wecom"}, {ID: "w2", IM: "wecom"}},
			offline:  []string{"w0"},
			ctx:      context.Background(), im: "wecom", want: "w1"},
		{name: "rule 5 default offline: first online",
			accounts: []Account{{ID: "w0", IM: "wecom", Default: true}, {ID: "w1", IM: "wecom"}},
			offline:  []string{"w0"},
			ctx:      context.Background(), im: "wecom", want: "w1"},
		{name: "no account for the IM",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}},
			ctx:      context.Background(), im: "wecom", wantErr: ErrNoAccount},
		{name: "every account offline",
			accounts: []Account{{ID: "w0", IM: "wecom", Default: true}, {ID: "w1", IM: "wecom"}},
			offline:  []string{"w0", "w1"},
			ctx:      msgFrom("wecom", "w1"), im: "wecom", wantErr: ErrAccountOffline},
		{name: "empty imType",
			accounts: []Account{{ID: "q1", IM: "qq", Default: true}},
			ctx:      context.Background(), im: "", wantErr: ErrInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient()
			require.NoError(t, err)
			for _, a := range tt.accounts {
				a.Backend = b
				require.NoError(t, c.AddAccount(a))
			}
			for _, id := range tt.offline {
				require.NoError(t, c.SetOnline(id, false))
			}
			got, err := c.Resolve(tt.ctx, tt.im, tt.opts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.ID)
		})
	}
}

func TestAccountRegistry(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	c, err := NewClient(WithAccount(Account{ID: "a", IM: "qq", Default: true, Backend: b}))
	require.NoError(t, err)

	require.Error(t, c.AddAccount(Account{ID: "a", IM: "qq", Backend: b}), "duplicate id")
	require.Error(t, c.AddAccount(Account{ID: "b", IM: "qq", Default: true, Backend: b}), "second default")
	require.Error(t, c.AddAccount(Account{ID: "", IM: "qq", Backend: b}))
	require.Error(t, c.AddAccount(Account{ID: "c", IM: "", Backend: b}))
	require.Error(t, c.AddAccount(Account{ID: "c", IM: "qq"}))
	require.ErrorIs(t, c.RemoveAccount("zzz"), ErrUnknownAccount)
	require.ErrorIs(t, c.SetOnline("zzz", true), ErrUnknownAccount)

	require.NoError(t, c.AddAccount(Account{ID: "b", IM: "qq", Backend: b}))
	require.NoError(t, c.RemoveAccount("a"))
	got, err := c.Resolve(context.Background(), "qq")
	require.NoError(t, err)
	assert.Equal(t, "b", got.ID)
	assert.Equal(t, []string{"b"}, ids(c.Accounts()))
	// A removed default frees the slot.
	require.NoError(t, c.AddAccount(Account{ID: "a", IM: "qq", Default: true, Backend: b}))
	got, err = c.Resolve(context.Background(), "qq")
	require.NoError(t, err)
	assert.Equal(t, "a", got.ID)

	_, err = NewClient(WithAccount(Account{ID: "x", IM: "qq"}))
	require.Error(t, err, "NewClient validates its accounts")
}

func ids(as []Account) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// TestConcurrentChurn pushes from many goroutines while accounts are added,
// removed and switched on and off. Run with -race.
func TestConcurrentChurn(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	c, err := NewClient()
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, c.AddAccount(Account{ID: fmt.Sprint("acct", i), IM: "qq", Default: i == 0, Backend: b}))
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var okCount, errCount sync.Map
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 125 {
				n, err := c.Push(ctx, "qq", "g1", "", "t", fmt.Sprint("m", g, i))
				if err != nil {
					// Every failure must be a selection category, never a bare 0.
					require.Zero(t, n)
					if !(errorIsAny(err, ErrNoAccount, ErrAccountOffline, ErrUnknownAccount)) {
						t.Errorf("unexpected error: %v", err)
					}
					errCount.Store(fmt.Sprint(g, i), true)
					continue
				}
				require.Equal(t, 1, n)
				okCount.Store(fmt.Sprint(g, i), true)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 300 {
			id := fmt.Sprint("acct", i%10)
			switch i % 3 {
			case 0:
				_ = c.SetOnline(id, false)
			case 1:
				_ = c.RemoveAccount(id)
			case 2:
				_ = c.AddAccount(Account{ID: id, IM: "qq", Backend: b})
				_ = c.SetOnline(id, true)
			}
		}
	}()
	wg.Wait()
	var total int
	okCount.Range(func(any, any) bool { total++; return true })
	errCount.Range(func(any, any) bool { total++; return true })
	assert.Equal(t, 1000, total)
	var ok int
	okCount.Range(func(any, any) bool { ok++; return true })
	assert.Equal(t, ok, b.calls(), "every successful push reached the backend exactly once")
	assert.Positive(t, ok)
}

func errorIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
