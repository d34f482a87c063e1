package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/redisstate"
)

const outboxUsage = `usage: imbridge outbox list|status|resend|drop [ID...] [flags]

  list             the dead letters: failed, and maybe delivered (check the chat first)
  status ID...     where each job stands
  resend ID...     queue dead letters again (a maybe-delivered one may then show twice)
  drop ID...       forget dead letters

The outbox is the Redis one of redisstate.NewOutboxStore: --redis (default
$IMBRIDGE_REDIS) and --prefix name it.
`

// outboxFlags are the flags of "imbridge outbox".
type outboxFlags struct {
	url, prefix string
	asJSON      bool
	limit       int
}

func (o *outboxFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.url, "redis", os.Getenv("IMBRIDGE_REDIS"), "the Redis URL (redis://[user:password@]host:port[/db])")
	fs.StringVar(&o.prefix, "prefix", "imbridge", "the outbox's key prefix (redisstate.WithPrefix)")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON on stdout")
	fs.IntVar(&o.limit, "max", 100, "list: at most this many")
}

// outboxCmd runs "imbridge outbox": the dead letters of a Redis outbox.
func outboxCmd(ctx context.Context, f *outboxFlags, args []string, stdout, stderr io.Writer) int {
	url, prefix, asJSON, limit := &f.url, &f.prefix, &f.asJSON, &f.limit
	if len(args) == 0 || (args[0] != "list" && len(args) < 2) {
		fmt.Fprint(stderr, outboxUsage)
		return exitUsage
	}
	if *url == "" {
		fmt.Fprintln(stderr, "imbridge outbox: no Redis: give --redis or $IMBRIDGE_REDIS")
		return exitConfig
	}
	opt, err := redis.ParseURL(*url)
	if err != nil {
		// go-redis's error may quote the URL, password and all.
		fmt.Fprintln(stderr, "imbridge outbox: --redis is not a redis:// or rediss:// URL")
		return exitConfig
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	store, err := redisstate.NewOutboxStore(ctx, rdb, redisstate.WithPrefix(*prefix))
	if err != nil {
		fmt.Fprintln(stderr, "imbridge outbox:", err)
		return exitFailed
	}
	in, err := outbox.NewInspector(store)
	if err != nil {
		fmt.Fprintln(stderr, "imbridge outbox:", err)
		return exitFailed
	}
	cmd, ids := args[0], args[1:]
	switch cmd {
	case "list":
		dead, err := in.DeadLetters(ctx, *limit)
		if err != nil {
			fmt.Fprintln(stderr, "imbridge outbox:", err)
			return exitFailed
		}
		printJobs(stdout, dead, *asJSON)
		return exitOK
	case "status":
		var jobs []outbox.JobInfo
		code := exitOK
		for _, id := range ids {
			s, err := in.Job(ctx, id)
			if err != nil {
				fmt.Fprintf(stderr, "imbridge outbox: %s: %s\n", visible(id), say(err))
				code = exitFailed
				if errors.Is(err, outbox.ErrJobNotFound) {
					code = exitBadInput
				}
				continue
			}
			jobs = append(jobs, s)
		}
		printJobs(stdout, jobs, *asJSON)
		return code
	case "resend", "drop":
		do := in.Resend
		if cmd == "drop" {
			do = in.Drop
		}
		code := exitOK
		for _, id := range ids {
			if err := do(ctx, id); err != nil {
				fmt.Fprintf(stderr, "imbridge outbox: %s %s: %s\n", cmd, visible(id), say(err))
				code = exitFailed
				if errors.Is(err, outbox.ErrJobNotFound) || errors.Is(err, outbox.ErrNotDeadLetter) {
					code = exitBadInput
				}
				continue
			}
			fmt.Fprintf(stdout, "%s %s\n", map[string]string{"resend": "queued", "drop": "dropped"}[cmd], id)
		}
		return code
	}
	fmt.Fprintf(stderr, "imbridge outbox: unknown subcommand %q\n", visible(cmd))
	fmt.Fprint(stderr, outboxUsage)
	return exitUsage
}

// jobView is a job as the CLI prints it, in JSON with these keys.
type jobView struct {
	ID             string   `json:"id"`
	State          string   `json:"state"`
	Sent           int      `json:"sent"`
	Attempts       int      `json:"attempts"`
	Queued         string   `json:"queued"`
	Helper         string   `json:"helper,omitempty"`
	IM             string   `json:"im,omitempty"`
	Account        string   `json:"account,omitempty"`
	Group          string   `json:"group,omitempty"`
	User           string   `json:"user,omitempty"`
	Items          []string `json:"items,omitempty"`
	LastErrorClass string   `json:"last_error_class,omitempty"`
	LastError      string   `json:"last_error,omitempty"`
}

func viewOf(j outbox.JobInfo) jobView {
	v := jobView{ID: j.ID, State: string(j.State), Sent: j.Sent, Attempts: j.Attempts, Queued: j.Enqueued.Format(time.RFC3339),
		Helper: string(j.Helper), IM: j.IM, Account: j.Account, Group: j.GroupCode, User: j.UserID,
		LastErrorClass: j.LastErrorClass, LastError: j.LastError}
	for _, t := range j.Items {
		v.Items = append(v.Items, string(t))
	}
	return v
}

// target says where a job goes: the IM and account, then group and user.
func (v jobView) target() string {
	t := v.IM + "/" + v.Account
	if v.Group != "" {
		t += " group " + v.Group
	}
	if v.User != "" {
		t += " user " + v.User
	}
	return t
}

// printJobs prints jobs as a table, or as JSON lines.
func printJobs(w io.Writer, jobs []outbox.JobInfo, asJSON bool) {
	if asJSON {
		for _, j := range jobs {
			printJSON(w, viewOf(j))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSENT\tATTEMPTS\tQUEUED\tTARGET\tCLASS\tERROR")
	for _, j := range jobs {
		v := viewOf(j)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", visible(v.ID), v.State, v.Sent, v.Attempts, v.Queued, visible(v.target()),
			visible(v.LastErrorClass), visible(v.LastError))
	}
	_ = tw.Flush()
}
