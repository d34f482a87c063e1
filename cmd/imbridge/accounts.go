package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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

// String is how many were given, never the values: URLs hold secrets.
func (u *urlList) String() string {
	if len(*u) == 0 {
		return ""
	}
	return fmt.Sprint(len(*u), " given")
}

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
