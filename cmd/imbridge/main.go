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
// Accounts come from --url, else $IMBRIDGE_URL, else the file of
// --config, $IMBRIDGE_CONFIG or ~/.config/imbridge/accounts ("ID
// [default] URL" a line). Exit codes say what happened (see exitCode).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
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

const usage = `usage: imbridge COMMAND [flags] [args]

commands:
  send [TEXT...|-]         push text (stdin with - or a pipe)
  image|voice|video|file SOURCE
                           push media: a URL, a path, base64://..., data:...
  mixed ITEM...            push items in order: text:..., markdown:..., image:SRC, voice:SRC,
                           video:SRC, file:SRC; or --items FILE.json (autClaw's items, - for stdin)
  verify                   check the accounts, list them with secrets redacted
  emulate                  run the WeCom, TIM, DingTalk and Feishu emulators on loopback, log what they accept
  outbox list|status|resend|drop [ID...]
                           inspect a Redis outbox's dead letters, resend or drop them

  version                  print the version

run "imbridge COMMAND -h" for a command's flags.
exit codes: 0 sent, 1 failed, 2 usage, 3 bad input, nothing sent,
4 account or credentials refused, 5 rate limited, nothing sent,
6 may have been delivered, 7 configuration, 8 partly delivered (--resume N sends the rest)
`

// run is the whole command, for tests to drive in process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "send", "image", "voice", "video", "file", "mixed":
		return push(ctx, cmd, rest, stdin, stdout, stderr)
	case "verify":
		return verify(rest, stdout, stderr)
	case "emulate":
		return emulate(ctx, rest, stdout, stderr)
	case "outbox":
		return outboxCmd(ctx, rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "imbridge", version())
		return exitOK
	}
	fmt.Fprintf(stderr, "imbridge: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
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
