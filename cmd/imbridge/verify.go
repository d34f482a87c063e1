package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/accounturl"
)

// verifyFlags are verify's flags.
type verifyFlags struct {
	accountFlags
	send, group, user string
	timeout           time.Duration
	asJSON            bool
}

func (v *verifyFlags) register(fs *pflag.FlagSet) {
	fs.Var(&v.urls, "url", "a one-off account URL (repeatable)")
	fs.StringVar(&v.config, "config", "", "the file of accounts")
	fs.StringVar(&v.send, "send", "", "prove each account by sending this text (to --group/--user; a webhook bot's own group otherwise)")
	fs.StringVar(&v.group, "group", "", "with --send: the group to send to (TIM needs a group or a user)")
	fs.StringVar(&v.user, "user", "", "with --send: the user to send to")
	fs.DurationVar(&v.timeout, "timeout", 30*time.Second, "how long each account's check or send may take")
	fs.BoolVar(&v.asJSON, "json", false, "print one JSON result on stdout: each account, how it was proven, and the exit code")
}

// How far verify proved an account, in --json's "proof".
const (
	proofSyntax      = "syntax_only"          // well formed; the platform has no call that proves a key without sending
	proofCredentials = "credentials_accepted" // an authenticated call that sends nothing succeeded
	proofDelivered   = "delivered"            // --send delivered the text
	proofRefused     = "refused"              // the check or the send failed: see exit and error
)

// checked is one account as verify reports it; its URL is redacted.
type checked struct {
	ID         string `json:"id"`
	IM         string `json:"im"`
	URL        string `json:"url"`
	Default    bool   `json:"default"`
	Source     string `json:"source"`
	Proof      string `json:"proof"`
	Exit       int    `json:"exit"`
	ErrorClass string `json:"error_class,omitempty"`
	Error      string `json:"error,omitempty"`
}

// verify checks the accounts and lists them, secrets redacted; with
// --send it proves each by sending. The exit code is the worst outcome.
func verify(v *verifyFlags, stdout, stderr io.Writer) int {
	accts, err := v.load(stderr)
	if err != nil {
		return verifyFailed(v.asJSON, err, stdout, stderr)
	}
	var c *middleware.Client
	if v.send != "" {
		if c, err = client(accts); err != nil {
			return verifyFailed(v.asJSON, err, stdout, stderr)
		}
	}
	rows := make([]checked, len(accts))
	worst := exitOK
	for i, a := range accts {
		rows[i] = checked{ID: a.ID, IM: a.IM, URL: a.Redacted, Default: a.Default, Source: a.Source}
		ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
		rows[i].Proof, err = prove(ctx, c, a, v)
		cancel()
		rows[i].Exit, rows[i].ErrorClass = exitCode(err)
		if err != nil {
			rows[i].Proof, rows[i].Error = proofRefused, say(err)
		}
		worst = worse(worst, rows[i].Exit)
	}
	if v.asJSON {
		printJSON(stdout, struct {
			Exit     int       `json:"exit"`
			Accounts []checked `json:"accounts"`
		}{worst, rows})
		return worst
	}
	printChecked(rows, stdout, stderr)
	return worst
}

// prove proves what it can of one account: with c (--send) by sending;
// else a backend that can check its credentials without sending (TIM's
// account_check) does; else only the URL's syntax was checked.
func prove(ctx context.Context, c *middleware.Client, a accounturl.Parsed, v *verifyFlags) (string, error) {
	if c != nil {
		_, err := c.Push(ctx, a.IM, v.group, v.user, "", v.send, middleware.WithAccountID(a.ID))
		return proofDelivered, err
	}
	if b, ok := a.Backend.(verifier); ok {
		return proofCredentials, b.Verify(ctx)
	}
	return proofSyntax, nil
}

// verifier is a backend that can prove its credentials without sending
// (timchat: TIM's account_check).
type verifier interface {
	Verify(ctx context.Context) error
}

// printChecked prints verify's result for a person: the accounts, then
// what was proven of each.
func printChecked(rows []checked, stdout, stderr io.Writer) {
	unproven := 0
	for _, r := range rows {
		def := ""
		if r.Default {
			def = " (default)"
		}
		fmt.Fprintf(stdout, "%-12s %-6s %s%s  [%s]\n", r.ID, r.IM, r.URL, def, r.Source)
	}
	for _, r := range rows {
		switch r.Proof {
		case proofRefused:
			fmt.Fprintf(stderr, "imbridge: %s: %s\n", r.ID, r.Error)
		case proofCredentials:
			fmt.Fprintf(stdout, "%s: credentials accepted (nothing was sent): usable\n", r.ID)
		case proofDelivered:
			fmt.Fprintf(stdout, "%s: delivered: usable\n", r.ID)
		default:
			unproven++
		}
	}
	if unproven > 0 {
		fmt.Fprintf(stdout, "%d account(s) well formed; their platform has no call that proves a key without sending, so nothing was sent and they are unproven: give --send TEXT to prove them\n", unproven)
	}
}

// verifyFailed reports a configuration that did not load or build.
func verifyFailed(asJSON bool, err error, stdout, stderr io.Writer) int {
	code, class := exitCode(err)
	if code == exitFailed {
		code, class = exitConfig, "config"
	}
	if asJSON {
		printJSON(stdout, result{Exit: code, ErrorClass: class, Error: say(err)})
		return code
	}
	fmt.Fprintln(stderr, "imbridge:", say(err))
	return code
}
