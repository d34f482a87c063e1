package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"
	_ "time/tzdata" // timezone: works on machines without a zoneinfo database

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/imbridge/middleware/gateway"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/redisstate"
)

// serveFlags are serve's flags.
type serveFlags struct {
	config  string
	replica string
	verbose bool
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "the gateway's YAML configuration (docs/gateway.md)")
	fs.StringVar(&f.replica, "replica", "", "this replica's name, unique among the replicas sharing a Redis (default: the host name and the process id)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log every delivery attempt, not only warnings and errors")
}

const serveUsage = `serve runs the alert gateway: Alertmanager's and Grafana's webhooks, and plain
sends, to the accounts of its configuration, through a durable outbox.

  POST /alertmanager/ROUTE   Alertmanager webhook_configs (version 4)
  POST /grafana/ROUTE        a Grafana webhook contact point (version 1)
  POST /send/ROUTE           {"title":"...","text":"..."} or {"markdown":"..."}
                             (an Idempotency-Key header makes a retry safe)
  GET  /history/ROUTE        the last notifications and what became of them
  GET  /healthz /readyz /metrics

200 only once a notification is queued (in Redis when the configuration names
one); 503 when it cannot be (the sender retries); 4xx for what never would
succeed. SIGINT or SIGTERM: stop accepting, finish what is in flight, deliver
what was queued for up to shutdown_timeout, leave the rest in the store.

Exit codes: 0 stopped cleanly; 1 failed (the address is taken, Redis is
unreachable at start); 2 usage; 7 the configuration is wrong.`

// serve runs the gateway until ctx ends.
func serve(ctx context.Context, f *serveFlags, stdout, stderr io.Writer) int {
	if f.config == "" {
		fmt.Fprintln(stderr, "imbridge serve: give --config FILE (docs/gateway.md)")
		return exitUsage
	}
	cfg, err := gateway.Load(f.config)
	if err != nil {
		fmt.Fprintln(stderr, "imbridge serve:", say(err))
		return exitConfig
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	replica := f.replica
	if replica == "" {
		host, _ := os.Hostname()
		replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	opts := []gateway.Option{gateway.WithLogger(log), gateway.WithReplica(replica)}
	if cfg.Redis != "" {
		ropts, closeRedis, err := redisOptions(ctx, cfg, log)
		if err != nil {
			fmt.Fprintln(stderr, "imbridge serve: redis:", say(err))
			if errors.Is(err, gateway.ErrConfig) {
				return exitConfig
			}
			return exitFailed
		}
		defer closeRedis()
		opts = append(opts, ropts...)
	} else {
		log.Warn("gateway: no redis: queued notifications live in this process and die with it; set redis for a durable queue and HA")
	}
	gw, err := gateway.New(cfg, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "imbridge serve:", say(err))
		return exitConfig
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "imbridge serve:", say(err))
		return exitFailed
	}
	fmt.Fprintf(stdout, "imbridge serve: listening on http://%s (replica %s)\n", ln.Addr(), visible(replica))
	if err := gw.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "imbridge serve:", say(err))
		return exitFailed
	}
	fmt.Fprintln(stdout, "imbridge serve: stopped")
	return exitOK
}

// redisOptions connects to the configuration's Redis and returns the
// gateway's shared state on it: the budget, the outbox, the dedup marks
// and the history.
func redisOptions(ctx context.Context, cfg *gateway.Config, log *slog.Logger) ([]gateway.Option, func(), error) {
	ro, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		// ParseURL's errors can quote the URL, password included.
		return nil, nil, fmt.Errorf("%w: redis: not a redis:// or rediss:// URL", gateway.ErrConfig)
	}
	rdb := redis.NewClient(ro)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("%s does not answer: %w", ro.Addr, err)
	}
	shared := []redisstate.Option{redisstate.WithLogger(log), redisstate.WithPrefix(cfg.RedisPrefix)}
	// The budget answers within its own short timeout (a push is never
	// held by a slow Redis); the queue and the marks may take a second.
	limiter, err := redisstate.NewLimiter(rdb, shared...)
	if err != nil {
		return nil, nil, err
	}
	shared = append(shared, redisstate.WithTimeout(time.Second))
	store, err := redisstate.NewOutboxStore(ctx, rdb, append(shared, redisstate.WithClaimTimeout(cfg.ClaimTimeout))...)
	if err != nil {
		return nil, nil, err
	}
	marks, err := redisstate.NewMarks(rdb, shared...)
	if err != nil {
		return nil, nil, err
	}
	journal, err := redisstate.NewJournal(rdb, shared...)
	if err != nil {
		return nil, nil, err
	}
	ready := func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	return []gateway.Option{gateway.WithLimiter(limiter), gateway.WithStore(store), gateway.WithMarks(marks),
		gateway.WithJournal(journal), gateway.WithReadiness(ready), gateway.WithOutboxOptions(outbox.WithPollInterval(200 * time.Millisecond))}, func() { _ = rdb.Close() }, nil
}
