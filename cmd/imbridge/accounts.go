package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/accounturl"
)

// accountFlags say where the accounts come from.
type accountFlags struct {
	urls   urlList
	config string
}

// urlList is a repeatable --url: each is an account, and a push goes to
// every one of them.
type urlList []string

func (u *urlList) String() string { return fmt.Sprint(len(*u), " URL(s)") } // never the URLs: they hold secrets

func (u *urlList) Type() string { return "string" }

func (u *urlList) Set(v string) error {
	*u = append(*u, v)
	return nil
}

var errNoConfig = fmt.Errorf("%w: no accounts: give --url, set %s, or write a file of accounts", accounturl.ErrConfig, accounturl.EnvURL)

// configPath is --config, $IMBRIDGE_CONFIG, or ~/.config/imbridge/accounts.
func (f accountFlags) configPath() string {
	if f.config != "" {
		return f.config
	}
	if p := os.Getenv("IMBRIDGE_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "imbridge", "accounts")
}

// load returns the accounts: --url, else --config, else $IMBRIDGE_URL,
// else the file of $IMBRIDGE_CONFIG or the default path. An explicit flag
// beats the environment. Warnings (a file others can read) go to stderr.
func (f accountFlags) load(stderr io.Writer) ([]accounturl.Parsed, error) {
	if len(f.urls) > 0 {
		var out []accounturl.Parsed
		for i, raw := range f.urls {
			id := "url"
			if len(f.urls) > 1 {
				id = fmt.Sprintf("url%d", i+1)
			}
			a, err := accounturl.Parse(id, raw)
			if err != nil {
				return nil, err
			}
			a.Default = len(f.urls) == 1
			out = append(out, accounturl.Parsed{Account: a, Redacted: accounturl.Redact(raw), Source: "--url"})
		}
		return out, nil
	}
	if f.config == "" {
		if a, ok, err := accounturl.FromEnv(); ok || err != nil {
			return []accounturl.Parsed{a}, err
		}
	}
	path := f.configPath()
	if path == "" {
		return nil, errNoConfig
	}
	accts, warning, err := accounturl.Load(path)
	if errors.Is(err, os.ErrNotExist) && f.config == "" {
		return nil, errNoConfig
	}
	if warning != "" {
		fmt.Fprintln(stderr, "imbridge: warning:", warning)
	}
	if err == nil && len(accts) == 0 {
		return nil, fmt.Errorf("%w: %s holds no account", accounturl.ErrConfig, path)
	}
	if err == nil {
		err = oneDefault(accts)
	}
	return accts, err
}

// oneDefault refuses a configuration with two default accounts for one
// IM: which would send is not for the CLI to guess.
func oneDefault(accts []accounturl.Parsed) error {
	seen := map[string]string{}
	for _, a := range accts {
		if !a.Default {
			continue
		}
		if prev, ok := seen[a.IM]; ok {
			return fmt.Errorf("%w: %s and %s are both the default account of %s", accounturl.ErrConfig, prev, a.Source, a.IM)
		}
		seen[a.IM] = a.Source
	}
	return nil
}

// client builds the middleware.Client of the accounts.
func client(accts []accounturl.Parsed, extra ...middleware.ClientOption) (*middleware.Client, error) {
	opts := make([]middleware.ClientOption, 0, len(accts)+len(extra))
	for _, a := range accts {
		opts = append(opts, middleware.WithAccount(a.Account))
	}
	return middleware.NewClient(append(opts, extra...)...)
}

// pickIM is --im, else the IM of --account, else of the default account,
// else of the only IM configured.
func pickIM(accts []accounturl.Parsed, im, account string) (string, error) {
	if im != "" {
		return im, nil
	}
	ims := map[string]bool{}
	for _, a := range accts {
		if account != "" && a.ID == account {
			return a.IM, nil
		}
		ims[a.IM] = true
	}
	for _, a := range accts {
		if a.Default {
			return a.IM, nil
		}
	}
	if len(ims) == 1 {
		return accts[0].IM, nil
	}
	if account != "" {
		return "", fmt.Errorf("%w: no account %q", middleware.ErrUnknownAccount, account)
	}
	return "", fmt.Errorf("%w: several IMs are configured and none is the default: give --im", accounturl.ErrConfig)
}

// verify checks the accounts and lists them, secrets redacted.
// verifyFlags are verify's flags.
type verifyFlags struct {
	accountFlags
	send, group, user string
	timeout           time.Duration
}

func (v *verifyFlags) register(fs *pflag.FlagSet) {
	fs.Var(&v.urls, "url", "a one-off account URL (repeatable)")
	fs.StringVar(&v.config, "config", "", "the file of accounts")
	fs.StringVar(&v.send, "send", "", "prove each account by sending this text (to --group/--user; a webhook bot's own group otherwise)")
	fs.StringVar(&v.group, "group", "", "with --send: the group to send to (TIM needs a group or a user)")
	fs.StringVar(&v.user, "user", "", "with --send: the user to send to")
	fs.DurationVar(&v.timeout, "timeout", 30*time.Second, "with --send: how long each send may take")
}

// verify checks the accounts and lists them, secrets redacted; with
// --send it proves each by sending.
func verify(v *verifyFlags, stdout, stderr io.Writer) int {
	af, send, group, user, timeout := v.accountFlags, &v.send, &v.group, &v.user, &v.timeout
	accts, err := af.load(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "imbridge:", visible(err.Error()))
		return exitConfig
	}
	for _, a := range accts {
		def := ""
		if a.Default {
			def = " (default)"
		}
		fmt.Fprintf(stdout, "%-12s %-6s %s%s  [%s]\n", a.ID, a.IM, a.Redacted, def, a.Source)
	}
	if *send == "" {
		return proveWithoutSending(accts, *timeout, stdout, stderr)
	}
	return proveBySending(accts, *send, *group, *user, *timeout, stdout, stderr)
}

// verifier is a backend that can prove its credentials without sending
// (timchat: TIM's account_check).
type verifier interface {
	Verify(ctx context.Context) error
}

// proveWithoutSending proves what can be proven without a message: TIM's
// credentials, with an authenticated call. A webhook bot's key has no
// such call; for those it says only that the URL is well formed.
func proveWithoutSending(accts []accounturl.Parsed, timeout time.Duration, stdout, stderr io.Writer) int {
	worst, unproven := exitOK, 0
	for _, a := range accts {
		v, ok := a.Backend.(verifier)
		if !ok {
			unproven++
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := v.Verify(ctx)
		cancel()
		if err != nil {
			code, _ := exitCode(err)
			worst = worse(worst, code)
			fmt.Fprintf(stderr, "imbridge: %s: %s\n", a.ID, visible(err.Error()))
			continue
		}
		fmt.Fprintf(stdout, "%s: credentials accepted (nothing was sent): usable\n", a.ID)
	}
	if unproven > 0 {
		fmt.Fprintf(stdout, "%d account(s) well formed; their platform has no call that proves a key without sending, so nothing was sent and they are unproven: give --send TEXT to prove them\n", unproven)
	}
	return worst
}

// proveBySending sends text from every account: the only proof WeCom's
// and the webhook bots' keys allow. The exit code is the worst outcome.
func proveBySending(accts []accounturl.Parsed, text, group, user string, timeout time.Duration, stdout, stderr io.Writer) int {
	c, err := client(accts)
	if err != nil {
		fmt.Fprintln(stderr, "imbridge:", visible(err.Error()))
		return exitConfig
	}
	worst := exitOK
	for _, a := range accts {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err := c.Push(ctx, a.IM, group, user, "", text, middleware.WithAccountID(a.ID))
		cancel()
		code, _ := exitCode(err)
		worst = worse(worst, code)
		if err != nil {
			fmt.Fprintf(stderr, "imbridge: %s: %s\n", a.ID, visible(err.Error()))
			continue
		}
		fmt.Fprintf(stdout, "%s: delivered: usable\n", a.ID)
	}
	return worst
}
