package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbridge/middleware"
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

// outbox runs "imbridge outbox": the dead letters of a Redis outbox.
func outbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("outbox", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, outboxUsage); fs.PrintDefaults() }
	url := fs.String("redis", os.Getenv("IMBRIDGE_REDIS"), "the Redis URL (redis://[user:password@]host:port[/db])")
	prefix := fs.String("prefix", "imbridge", "the outbox's key prefix (redisstate.WithPrefix)")
	asJSON := fs.Bool("json", false, "print JSON on stdout")
	limit := fs.Int("max", 100, "list: at most this many")
	args, err := parse(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(args) == 0 || (args[0] != "list" && len(args) < 2) {
		fs.Usage()
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
	c, _ := middleware.NewClient() // no accounts: nothing is sent from here
	o, err := middleware.NewOutbox(c, middleware.WithOutboxStore(store))
	if err != nil {
		fmt.Fprintln(stderr, "imbridge outbox:", err)
		return exitFailed
	}
	cmd, ids := args[0], args[1:]
	switch cmd {
	case "list":
		dead, err := o.DeadLetters(ctx, *limit)
		if err != nil {
			fmt.Fprintln(stderr, "imbridge outbox:", err)
			return exitFailed
		}
		printJobs(stdout, dead, *asJSON)
		return exitOK
	case "status":
		var jobs []middleware.JobStatus
		code := exitOK
		for _, id := range ids {
			s, err := o.Status(ctx, id)
			if err != nil {
				fmt.Fprintf(stderr, "imbridge outbox: %s: %v\n", id, err)
				code = exitFailed
				continue
			}
			jobs = append(jobs, s)
		}
		printJobs(stdout, jobs, *asJSON)
		return code
	case "resend", "drop":
		do := o.Resend
		if cmd == "drop" {
			do = o.Drop
		}
		code := exitOK
		for _, id := range ids {
			if err := do(ctx, id); err != nil {
				fmt.Fprintf(stderr, "imbridge outbox: %s %s: %v\n", cmd, id, err)
				code = exitFailed
				if errors.Is(err, middleware.ErrJobNotFound) {
					code = exitBadInput
				}
				continue
			}
			fmt.Fprintf(stdout, "%s %s\n", map[string]string{"resend": "queued", "drop": "dropped"}[cmd], id)
		}
		return code
	}
	fmt.Fprintf(stderr, "imbridge outbox: unknown subcommand %q\n", cmd)
	fs.Usage()
	return exitUsage
}

// printJobs prints job statuses as a table, or as JSON lines.
func printJobs(w io.Writer, jobs []middleware.JobStatus, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, j := range jobs {
			_ = enc.Encode(j)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSENT\tATTEMPTS\tQUEUED\tCLASS\tERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", j.ID, j.State, j.Sent, j.Attempts, j.Enqueued.Format(time.RFC3339), j.Class, j.Err)
	}
	_ = tw.Flush()
}
