package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/accounturl"
	"github.com/imbridge/middleware/dingtalk"
	"github.com/imbridge/middleware/feishu"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// pushFlags are the flags of send, the media commands and mixed.
type pushFlags struct {
	accountFlags
	im, account, group, user, title string
	markdown, asJSON                bool
	mentions, visibleTo             string
	name, mime, items               string
	timeout                         time.Duration
	resume                          int
	dryRun                          bool
	textEnv                         string
	cover                           string
	tags                            urlList // --tag: repeatable, like --url
	verbose                         bool
}

func (p *pushFlags) register(fs *pflag.FlagSet, cmd string) {
	fs.Var(&p.urls, "url", "a one-off account URL (wecom://KEY, tim://ADMIN:SECRET@APPID, dingtalk://TOKEN, feishu://HOOK, a webhook URL); repeat it to send to each")
	fs.StringVar(&p.config, "config", "", "the file of accounts (default $IMBRIDGE_CONFIG or ~/.config/imbridge/accounts)")
	fs.StringVar(&p.im, "im", "", "the target IM: wecom, tim, dingtalk or feishu (default: the default account's)")
	fs.StringVar(&p.account, "account", "", "the sending account (default: chosen by the SDK's rules)")
	fs.StringVar(&p.group, "group", "", "the group id(s), |-joined")
	fs.StringVar(&p.user, "user", "", "the user id(s), |-joined")
	fs.StringVar(&p.title, "title", "", "the title (TIM's offline-push title; WeCom shows none)")
	fs.BoolVar(&p.asJSON, "json", false, "print one JSON result on stdout")
	fs.DurationVar(&p.timeout, "timeout", 30*time.Second, "how long the push may take")
	fs.BoolVarP(&p.verbose, "verbose", "v", false, "print every request and answer (hosts and codes; never URLs, bodies or secrets), budget wait and upload on stderr")
	fs.Var(&p.tags, "tag", "send to every account of the configuration with tag:NAME on its line (repeatable)")
	fs.BoolVar(&p.dryRun, "dry-run", false, "resolve the account and check the push as it would go, printing what it would send; send nothing")
	fs.IntVar(&p.resume, "resume", 0, "send the same push again after the N messages an earlier run delivered (exit 8 says N)")
	fs.StringVar(&p.mentions, "mention", "", "users to mention, comma-separated (WeCom userids, DingTalk user ids, Feishu open_ids)")
	fs.StringVar(&p.visibleTo, "visible-to", "", "WeCom: the only members who see it, comma-separated")
	switch cmd {
	case "send":
		fs.BoolVar(&p.markdown, "markdown", false, "send as markdown (Feishu: a lark_md card)")
		fs.StringVar(&p.textEnv, "text-env", "", "take the text from this environment variable (a CI secret, a multi-line message)")
	case "mixed":
		fs.StringVar(&p.items, "items", "", "a JSON file of autClaw items (- for stdin) instead of ITEM arguments")
	default:
		if cmd == "video" {
			fs.StringVar(&p.cover, "cover", "", "TIM: the video's thumbnail, in any source form (TIM needs one)")
		}
		fs.StringVar(&p.name, "name", "", "the file name the recipients see")
		fs.StringVar(&p.mime, "mime", "", "the media type")
	}
}

// options turns the flags into the SDK's options for im.
func (p *pushFlags) options(im string) ([]middleware.Option, error) {
	if p.timeout <= 0 {
		return nil, fmt.Errorf("%w: --timeout %s: must be positive", middleware.ErrInvalidOption, p.timeout)
	}
	opts := []middleware.Option{middleware.WithTimeout(p.timeout)}
	if p.resume < 0 {
		return nil, fmt.Errorf("%w: --resume %d: a count of messages delivered", middleware.ErrInvalidOption, p.resume)
	}
	opts = append(opts, middleware.Settings{Resume: p.resume}.Options()...)
	if p.account != "" {
		opts = append(opts, middleware.WithAccountID(p.account))
	}
	if p.name != "" {
		opts = append(opts, middleware.WithFilename(p.name))
	}
	if p.mime != "" {
		opts = append(opts, middleware.WithMIME(p.mime))
	}
	if p.cover != "" && im != timchat.IM {
		return nil, fmt.Errorf("%w: --cover is TIM's: WeCom sends a video as a file, with no thumbnail", middleware.ErrInvalidOption)
	}
	if p.cover != "" {
		opts = append(opts, timchat.Thumbnail(p.cover))
	}
	if p.visibleTo != "" && im != wecom.IM {
		return nil, fmt.Errorf("%w: --visible-to is WeCom's", middleware.ErrInvalidOption)
	}
	if p.visibleTo != "" {
		opts = append(opts, wecom.VisibleTo(strings.Split(p.visibleTo, ",")...))
	}
	var mentions []string
	if p.mentions != "" {
		mentions = strings.Split(p.mentions, ",")
	}
	var markdown, mention middleware.Option
	switch im {
	case wecom.IM:
		markdown, mention = wecom.Markdown(), wecom.Mention(mentions...)
	case dingtalk.IM:
		markdown, mention = dingtalk.Markdown(), dingtalk.MentionUser(mentions...)
	case feishu.IM:
		markdown, mention = feishu.Markdown(), feishu.Mention(mentions...)
	default:
		if p.mentions != "" || p.markdown {
			return nil, fmt.Errorf("%w: --mention and --markdown are for wecom, dingtalk and feishu", middleware.ErrInvalidOption)
		}
	}
	if p.markdown {
		opts = append(opts, markdown)
	}
	if p.mentions != "" {
		opts = append(opts, mention)
	}
	return opts, nil
}

// run runs send, image, voice, video, file and mixed, its flags parsed.
func (p *pushFlags) run(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	accts, err := p.load(stderr)
	if err != nil {
		return report(stdout, stderr, p.asJSON, 0, err)
	}
	var copts []middleware.ClientOption
	if p.verbose {
		copts = append(copts, middleware.WithObserver(&verbose{out: stderr}))
	}
	c, err := client(accts, copts...)
	if err != nil {
		return report(stdout, stderr, p.asJSON, 0, err)
	}
	r, code := p.request(cmd, args, stdin, stderr)
	if code != exitOK {
		return code
	}
	if len(p.tags) > 0 {
		if accts, err = tagged(accts, p.tags); err != nil {
			return report(stdout, stderr, p.asJSON, 0, err)
		}
		return fanOut(ctx, c, p, accts, r, stdout, stderr)
	}
	if len(p.urls) > 1 {
		return fanOut(ctx, c, p, accts, r, stdout, stderr)
	}
	im, err := pickIM(accts, p.im, p.account)
	if err != nil {
		return report(stdout, stderr, p.asJSON, 0, err)
	}
	if r, err = p.complete(r, im); err != nil {
		return report(stdout, stderr, p.asJSON, 0, err)
	}
	if p.dryRun {
		return dryRun(ctx, c, r, stdout, stderr, p.asJSON)
	}
	if r.Helper != middleware.HelperPush && r.Helper != middleware.HelperMixed {
		bar := newProgress(stderr)
		defer bar.finish()
		r.Options = append(r.Options, middleware.WithProgress(bar.update))
	}
	n, err := c.Do(ctx, r)
	return report(stdout, stderr, p.asJSON, n, err)
}

// request is the push the command asks for, without its IM and options.
func (p *pushFlags) request(cmd string, args []string, stdin io.Reader, stderr io.Writer) (middleware.Request, int) {
	r := middleware.Request{GroupCode: p.group, UserID: p.user, Title: p.title}
	switch cmd {
	case "send":
		text, code := p.text(args, stdin, stderr)
		r.Helper, r.Content = middleware.HelperPush, text
		return r, code
	case "mixed":
		items, code := itemsOf(p.items, args, stdin, stderr)
		r.Helper, r.Items = middleware.HelperMixed, items
		return r, code
	}
	if len(args) != 1 {
		fmt.Fprintf(stderr, "imbridge %s: give one SOURCE\n", cmd)
		return r, exitUsage
	}
	r.Helper, r.Content = mediaHelper(cmd), args[0]
	return r, exitOK
}

// complete sets the request's IM and the flags' options for it.
func (p *pushFlags) complete(r middleware.Request, im string) (middleware.Request, error) {
	opts, err := p.options(im)
	r.IM, r.Options = im, opts
	return r, err
}

// tagged is the accounts with any of the tags, in the file's order.
func tagged(accts []accounturl.Parsed, tags []string) ([]accounturl.Parsed, error) {
	var out []accounturl.Parsed
	for _, a := range accts {
		for _, t := range a.Tags {
			if slices.Contains(tags, t) {
				out = append(out, a)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no account has tag %s", accounturl.ErrConfig, strings.Join(tags, " or "))
	}
	return out, nil
}

// fanned is one account's outcome in a fan-out's --json.
type fanned struct {
	Account string `json:"account"`
	result
}

// fanOut sends the push from every --url account, one after the other.
// The exit code is the worst outcome: 6 if any may have been delivered,
// else 8 if any was partly delivered, else the first failure's, else 0.
func fanOut(ctx context.Context, c *middleware.Client, p *pushFlags, accts []accounturl.Parsed, r middleware.Request, stdout, stderr io.Writer) int {
	var all []fanned
	worst := exitOK
	for _, a := range accts {
		ra, err := p.complete(r, a.IM)
		if err == nil {
			ra.Options = append(ra.Options, middleware.WithAccountID(a.ID))
		}
		var n int
		if err == nil && p.dryRun {
			_, err = c.Check(ctx, ra)
		} else if err == nil {
			n, err = c.Do(ctx, ra)
		}
		code, class := exitCode(err)
		one := fanned{Account: a.ID, result: result{Sent: n, Exit: code, ErrorClass: class}}
		if err != nil {
			one.Error = say(err)
		}
		all = append(all, one)
		worst = worse(worst, code)
		switch {
		case p.asJSON:
		case err != nil:
			fmt.Fprintf(stderr, "imbridge: %s (%s): %s\n", a.ID, a.IM, one.Error)
		case p.dryRun:
			fmt.Fprintf(stdout, "%s (%s): checked; nothing was sent\n", a.ID, a.IM)
		default:
			fmt.Fprintf(stdout, "%s (%s): sent to %d target(s)\n", a.ID, a.IM, n)
		}
	}
	if p.asJSON {
		printJSON(stdout, struct {
			Exit    int      `json:"exit"`
			Results []fanned `json:"results"`
		}{worst, all})
	}
	return worst
}

// worse is the worse of two exit codes, as fanOut ranks them.
func worse(a, b int) int {
	for _, c := range []int{exitMaybe, exitPartial} {
		if a == c || b == c {
			return c
		}
	}
	if a != exitOK {
		return a
	}
	return b
}

// mediaHelper is the helper of a media command.
func mediaHelper(cmd string) middleware.Helper {
	switch cmd {
	case "image":
		return middleware.HelperImage
	case "voice":
		return middleware.HelperVoice
	case "video":
		return middleware.HelperVideo
	}
	return middleware.HelperFile
}

// planned is the --dry-run output.
type planned struct {
	DryRun   bool   `json:"dry_run"`
	Exit     int    `json:"exit"`
	Account  string `json:"account"`
	IM       string `json:"im"`
	Messages int    `json:"messages,omitempty"`
	Items    int    `json:"items"`
}

// dryRun resolves and checks r as a push would, without sending: the
// account, and how many messages it would take when the backend can say.
func dryRun(ctx context.Context, c *middleware.Client, r middleware.Request, stdout, stderr io.Writer, asJSON bool) int {
	chk, err := c.Check(ctx, r)
	if err != nil {
		return report(stdout, stderr, asJSON, 0, err)
	}
	pl := planned{DryRun: true, Account: chk.Account.ID, IM: chk.Account.IM, Items: len(chk.Items)}
	if planner, ok := chk.Account.Backend.(interface {
		Messages(*middleware.Message) (int, error)
	}); ok {
		set := chk.Settings
		msg := &middleware.Message{IM: r.IM, GroupCode: r.GroupCode, UserID: r.UserID, Title: r.Title, AccountID: chk.Account.ID,
			Items: chk.Items, Fields: set.Fields, Filename: set.Filename, MIME: set.MIME, Extras: set.Extras, Resume: set.Resume}
		if n, err := planner.Messages(msg); err == nil {
			pl.Messages = n
		}
	}
	if asJSON {
		printJSON(stdout, pl)
		return exitOK
	}
	what := fmt.Sprintf("%d item(s)", pl.Items)
	if pl.Messages > 0 {
		what = fmt.Sprintf("%d message(s)", pl.Messages)
	}
	fmt.Fprintf(stdout, "dry run: %s from %s (%s), checked; nothing was sent\n", what, visible(pl.Account), pl.IM)
	return exitOK
}

// The most the CLI reads of a text or an items file: past it the push is
// refused (exit 3), never sent cut.
const (
	textLimit  = 1 << 20
	itemsLimit = 16 << 20
)

// errOverLimit is readWhole's refusal of input past its limit.
var errOverLimit = errors.New("over the limit")

// readWhole reads r whole, or refuses it past limit bytes: nothing is cut
// silently.
func readWhole(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is %w of %d bytes: nothing was sent", what, errOverLimit, limit)
	}
	return b, nil
}

// readFile reads a regular file whole, up to limit bytes.
func readFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return readWhole(f, limit, name)
}

// text is the text of send: the variable of --text-env, or textOf.
func (p *pushFlags) text(args []string, stdin io.Reader, stderr io.Writer) (string, int) {
	if p.textEnv == "" {
		return textOf(args, stdin, stderr)
	}
	if len(args) > 0 {
		fmt.Fprintln(stderr, "imbridge send: give the text as arguments or with --text-env, not both")
		return "", exitUsage
	}
	text, ok := os.LookupEnv(p.textEnv)
	switch {
	case !ok || text == "":
		fmt.Fprintf(stderr, "imbridge send: --text-env %s: the variable is not set or empty\n", visible(p.textEnv))
		return "", exitUsage
	case len(text) > textLimit:
		fmt.Fprintf(stderr, "imbridge send: --text-env %s is over the limit of %d bytes: nothing was sent\n", visible(p.textEnv), textLimit)
		return "", exitBadInput
	}
	return text, exitOK
}

// textOf is the text of send: the arguments, or stdin with "-" or when
// there are none.
func textOf(args []string, stdin io.Reader, stderr io.Writer) (string, int) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		return strings.Join(args, " "), exitOK
	}
	if f, ok := stdin.(*os.File); ok && len(args) == 0 {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			// A terminal: reading it would wait, silently, for text
			// nobody said to type.
			fmt.Fprintln(stderr, "imbridge send: no text: give it as arguments, or pipe it in (or give - to type it)")
			return "", exitUsage
		}
	}
	b, err := readWhole(stdin, textLimit, "stdin")
	if errors.Is(err, errOverLimit) {
		fmt.Fprintln(stderr, "imbridge send:", err)
		return "", exitBadInput
	}
	if err != nil {
		fmt.Fprintln(stderr, "imbridge send: reading stdin:", err)
		return "", exitFailed
	}
	text := strings.TrimRight(string(b), "\n")
	if text == "" {
		fmt.Fprintln(stderr, "imbridge send: no text: give it as arguments or on stdin")
		return "", exitUsage
	}
	return text, exitOK
}

// itemsOf is the items of mixed: TYPE:VALUE arguments in order, or the
// autClaw JSON of --items.
func itemsOf(file string, args []string, stdin io.Reader, stderr io.Writer) ([]middleware.Item, int) {
	if file != "" {
		var data []byte
		var err error
		if file == "-" {
			data, err = readWhole(stdin, itemsLimit, "stdin")
		} else {
			data, err = readFile(file, itemsLimit)
		}
		if err != nil {
			fmt.Fprintln(stderr, "imbridge mixed:", err)
			return nil, exitBadInput
		}
		items, err := middleware.ParseItemsJSON(data)
		if err != nil {
			fmt.Fprintln(stderr, "imbridge mixed:", err)
			return nil, exitBadInput
		}
		return items, exitOK
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "imbridge mixed: give ITEMs (text:..., image:SRC, ...) or --items FILE")
		return nil, exitUsage
	}
	items := make([]middleware.Item, len(args))
	for i, a := range args {
		t, v, ok := strings.Cut(a, ":")
		it := middleware.Item{Type: middleware.ItemType(t)}
		switch {
		case !ok:
			fmt.Fprintf(stderr, "imbridge mixed: item %d: want TYPE:VALUE\n", i)
			return nil, exitUsage
		case it.Type.IsMedia():
			it.Source = v
		default:
			it.Text = v
		}
		items[i] = it
	}
	return items, exitOK
}

// result is the --json output.
type result struct {
	Sent              int      `json:"sent"`
	Exit              int      `json:"exit"`
	DeliveredParts    *int     `json:"delivered_parts,omitempty"`
	MaybeDelivered    bool     `json:"failed_part_maybe_delivered,omitempty"`
	FailedTargets     []string `json:"failed_targets,omitempty"`
	ErrorClass        string   `json:"error_class,omitempty"`
	Error             string   `json:"error,omitempty"`
	RetryAfterSeconds float64  `json:"retry_after_seconds,omitempty"`
}

// report prints the outcome and returns its exit code.
func report(stdout, stderr io.Writer, asJSON bool, n int, err error) int {
	code, class := exitCode(err)
	if asJSON {
		r := result{Sent: n, Exit: code, ErrorClass: class}
		if err != nil {
			r.Error = say(err)
		}
		if d, ok := middleware.RetryAfter(err); ok {
			r.RetryAfterSeconds = d.Seconds()
		}
		var pe *middleware.PartialError
		switch {
		case errors.As(err, &pe) && len(pe.FailedTargets) > 0:
			r.FailedTargets = targetIDs(pe.FailedTargets)
		case errors.As(err, &pe):
			r.DeliveredParts, r.MaybeDelivered = &pe.SentParts, pe.MaybeDelivered
		}
		printJSON(stdout, r)
		return code
	}
	if err == nil {
		fmt.Fprintf(stdout, "sent to %d target(s)\n", n)
		return code
	}
	if n > 0 {
		fmt.Fprintf(stdout, "sent to %d target(s), then failed\n", n)
	}
	fmt.Fprintln(stderr, "imbridge:", say(err))
	var pe *middleware.PartialError
	switch {
	case errors.As(err, &pe) && len(pe.FailedTargets) > 0:
		fmt.Fprintf(stderr, "imbridge: reached %d target(s); not reached: %s\n", n, strings.Join(targetIDs(pe.FailedTargets), ", "))
	case errors.As(err, &pe):
		fmt.Fprintf(stderr, "imbridge: %d message(s) delivered; send the rest with --resume %d", pe.SentParts, pe.SentParts)
		if pe.MaybeDelivered {
			fmt.Fprint(stderr, " (the next one may have arrived too: check the chat)")
		}
		fmt.Fprintln(stderr)
	}
	if d, ok := middleware.RetryAfter(err); ok {
		fmt.Fprintf(stderr, "imbridge: retry in %s\n", d.Round(time.Second))
	}
	return code
}

// targetIDs names the targets a push did not reach, with the platform's
// code, and marks those that may have been reached after all.
func targetIDs(failed []middleware.TargetFailure) []string {
	out := make([]string, len(failed))
	for i, f := range failed {
		out[i] = fmt.Sprintf("%s (%d)", visible(f.ID), f.Code)
		if f.MaybeDelivered {
			out[i] += " (may have been reached)"
		}
	}
	return out
}

// exitCode maps an error to the exit code and class a script branches on.
func exitCode(err error) (int, string) {
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
	var pe *middleware.PartialError
	switch {
	case err == nil:
		return exitOK, ""
	case errors.As(err, &pe) && pe.SentParts > 0:
		return exitPartial, "partial"
	case errors.As(err, &pe) && pe.MaybeDelivered, is(middleware.ErrMaybeDelivered):
		return exitMaybe, "maybe_delivered"
	case is(accounturl.ErrConfig):
		return exitConfig, "config"
	case is(middleware.ErrRateLimited):
		return exitRateLimited, "rate_limited"
	case is(middleware.ErrNoAccount, middleware.ErrUnknownAccount, middleware.ErrAccountOffline, middleware.ErrUnauthorized):
		return exitNoAccount, "no_account"
	case is(middleware.ErrInvalidItem, middleware.ErrInvalidTarget, middleware.ErrTooLarge, middleware.ErrUnsupported, middleware.ErrInvalidOption):
		return exitBadInput, "bad_input"
	}
	return exitFailed, "failed"
}
