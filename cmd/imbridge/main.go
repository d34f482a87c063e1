// Command imbridge pushes messages to WeCom, Tencent Cloud IM, DingTalk and
// Feishu/Lark from a shell, a cron job or a CI step, with the SDK's limits,
// splitting, uploads and errors, and runs the platforms' emulators as a
// local server.
//
//	imbridge send --url "wecom://$KEY" "deploy done"
//	echo "nightly report" | imbridge send --account ops
//	imbridge file ./report.csv --group wrkGroup
//	imbridge emulate
//
// Accounts come from --url (repeatable), else the file of --config, else
// $IMBRIDGE_URL, else the file of $IMBRIDGE_CONFIG or
// ~/.config/imbridge/accounts ("ID [default] [tag:NAME...] URL" a line).
// Exit codes say what happened (see exitTable). The command line is
// cobra's: help, --version and completion scripts come with it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, for scripts to branch on.
const (
	exitOK          = 0 // sent
	exitFailed      = 1 // failed otherwise: the platform refused, the network failed
	exitUsage       = 2 // the command line is wrong
	exitBadInput    = 3 // an invalid item, target or option; too large; unsupported
	exitNoAccount   = 4 // no account for the IM, an unknown one, or offline
	exitRateLimited = 5 // rate limited: the delay is printed
	exitMaybe       = 6 // may have been delivered: check before sending again
	exitConfig      = 7 // the accounts' configuration is wrong or missing
	exitPartial     = 8 // some messages of the push went: their count is printed, --resume sends the rest
)

// exitTable is the exit-code table of the help, as docs/cli.md has it.
const exitTable = `Exit codes:
  0  sent
  1  failed otherwise: the platform refused, the network failed
  2  usage: the command line is wrong
  3  bad input (an item, a target, an option; too large; unsupported): nothing sent
  4  an account or its credentials refused: no account, an unknown or offline one, a wrong key
  5  rate limited: nothing sent; the delay is printed
  6  may have been delivered: check the chat before sending again
  7  the accounts' configuration is wrong or missing
  8  partly delivered: some targets or messages went; --resume N sends the rest of a split push`

// run is the whole command, for tests to drive in process: a cobra tree
// built anew for each run, so that no flag keeps a value between runs.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	code := exitOK
	root := newRoot(&code, stdin, stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		root.SetOut(stderr)
		_ = root.Help()
		return exitUsage
	}
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "imbridge:", say(err))
		fmt.Fprintln(stderr, `run "imbridge --help" or "imbridge COMMAND --help" for usage`)
		if slices.Contains(args, "--json") {
			// Asked for JSON: a script reads the failure there too.
			printJSON(stdout, result{Exit: exitUsage, ErrorClass: "usage", Error: say(err)})
		}
		return exitUsage
	}
	return code
}

// newRoot is the command tree. cobra gives the help of every command,
// --version, and the completion scripts (imbridge completion bash|zsh|fish).
func newRoot(code *int, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "imbridge",
		Short: "Push messages to WeCom, Tencent Cloud IM, DingTalk and Feishu/Lark from a shell; run their emulators",
		Long: "imbridge pushes messages from a shell, a cron job or a CI step, with the SDK's limits, splitting,\n" +
			"uploads and errors, and runs the platforms' emulators as a local server.\n\n" + exitTable,
		Example: `  imbridge emulate &                      # prints WECOM_URL=..., TIM_URL=...
  imbridge send --url "$WECOM_URL" hello
  imbridge file --url "$WECOM_URL" ./report.csv --name 日报.csv`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	for _, c := range []struct{ name, use, short, example string }{
		{"send", "send [TEXT...|-]", "push text (from the arguments, --text-env, or stdin with - or a pipe)", `  imbridge send --url "$WECOM_URL" "deploy done"
  echo "nightly report" | imbridge send --account ops`},
		{"image", "image SOURCE", "push an image: a URL, a path, base64://... or data:...", `  imbridge image --url "$WECOM_URL" ./latency.png`},
		{"voice", "voice SOURCE", "push a voice message", `  imbridge voice --url "$TIM_URL" --user alice ./note.amr`},
		{"video", "video SOURCE", "push a video (TIM: with --cover)", `  imbridge video --url "$TIM_URL" --user alice --cover ./thumb.png ./demo.mp4`},
		{"file", "file SOURCE", "push a file", `  imbridge file --url "$WECOM_URL" ./report.csv --name 日报.csv`},
		{"mixed", "mixed ITEM...", "push items in order: text:..., markdown:..., image:SRC, voice:SRC, video:SRC, file:SRC; or --items FILE.json", `  imbridge mixed --url "$WECOM_URL" text:Report file:./report.csv`},
	} {
		var p pushFlags
		name := c.name
		cmd := &cobra.Command{Use: c.use, Short: c.short, Example: c.example, Long: c.short + "\n\n" + exitTable,
			RunE: func(cmd *cobra.Command, args []string) error {
				*code = p.run(cmd.Context(), name, args, stdin, stdout, stderr)
				return nil
			}}
		p.register(cmd.Flags(), name)
		root.AddCommand(cmd)
	}
	var v verifyFlags
	verifyCmd := &cobra.Command{Use: "verify", Args: cobra.NoArgs,
		Short: "check the accounts and list them, secrets redacted; --send TEXT proves each by sending",
		Example: `  imbridge verify --config ~/.config/imbridge/accounts
  imbridge verify --url "$TIM_URL" --json          # TIM: proven without sending
  imbridge verify --url "$WECOM_URL" --send "verify probe"`,
		RunE: func(*cobra.Command, []string) error {
			*code = verify(&v, stdout, stderr)
			return nil
		}}
	v.register(verifyCmd.Flags())
	var e emulateFlags
	emulateCmd := &cobra.Command{Use: "emulate", Args: cobra.NoArgs,
		Short: "run the WeCom, TIM, DingTalk and Feishu emulators on loopback and log what they accept",
		Example: `  imbridge emulate --env-file emu.env &
  imbridge emulate --port 19100 --wecom-key 11111111-2222-3333-4444-555555555555   # stable URLs
  imbridge emulate --tim-users alice --tim-fail 10023 --drop-after-read 1          # rehearse failures`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			*code = emulate(cmd.Context(), &e, stdout, stderr)
			return nil
		}}
	e.register(emulateCmd.Flags())
	var sf serveFlags
	serveCmd := &cobra.Command{Use: "serve --config FILE", Args: cobra.NoArgs, Long: serveUsage,
		Short:   "run the alert gateway: Alertmanager and Grafana webhooks to WeCom and TIM, paced, digested, deduplicated",
		Example: "  imbridge serve --config gateway.yml",
		RunE: func(cmd *cobra.Command, _ []string) error {
			*code = serve(cmd.Context(), &sf, stdout, stderr)
			return nil
		}}
	sf.register(serveCmd.Flags())
	var o outboxFlags
	outboxC := &cobra.Command{Use: "outbox list|status|resend|drop [ID...]", Long: outboxUsage,
		Short: "inspect a Redis outbox's dead letters, resend or drop them",
		Example: `  imbridge outbox list --redis redis://127.0.0.1:6379/0
  imbridge outbox resend --redis "$IMBRIDGE_REDIS" 18eca4f68910cdc1-47df4b40`,
		RunE: func(cmd *cobra.Command, args []string) error {
			*code = outboxCmd(cmd.Context(), &o, args, stdout, stderr)
			return nil
		}}
	o.register(outboxC.Flags())
	versionCmd := &cobra.Command{Use: "version", Short: "print the version", Args: cobra.NoArgs, Example: "  imbridge version",
		Run: func(*cobra.Command, []string) { fmt.Fprintln(stdout, "imbridge", version()) }}
	root.AddCommand(verifyCmd, emulateCmd, serveCmd, outboxC, versionCmd)
	root.SetVersionTemplate("imbridge {{.Version}}\n")
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.Example = "  source <(imbridge completion bash)\n  imbridge completion zsh > \"${fpath[1]}/_imbridge\""
	}
	return root
}

// version is the module's version as the build recorded it: a tag, a
// pseudo-version, or "(devel)" with the commit when built from a clone.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	for _, kv := range bi.Settings {
		if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
			v += " " + kv.Value[:12]
		}
	}
	return v
}
