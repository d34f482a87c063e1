package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// watchInterval is how often the jobs this replica queued are checked.
const watchInterval = 250 * time.Millisecond

// Serve serves the gateway on ln and delivers what it queues, until ctx
// ends. Then it shuts down gracefully: it stops accepting, lets the
// requests in flight finish (each answered 200 only once queued), delivers
// what this replica queued for up to ShutdownTimeout, and hands the rest
// back to the store, where another replica (or the next start) takes it.
// A Server serves once: a second Serve, while the first runs, returns the
// outbox's error at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- s.box.Run(runCtx) }()
	go s.watch.run(runCtx, watchInterval)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("gateway: serving", slog.String("addr", ln.Addr().String()), slog.String("replica", s.replica), slog.Int("routes", len(s.routes)))
	var err error
	runDone := false
	select {
	case <-ctx.Done():
	case err = <-served:
	case err = <-ran:
		runDone = true
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if !runDone {
		s.drain(sctx)
		stopRun()
		if rerr := <-ran; rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
			err = rerr
		}
	}
	if left := s.watch.waiting(""); left > 0 {
		s.log.Warn("gateway: stopped with notifications undelivered; a shared store keeps them for the other replicas, a memory store loses them",
			slog.Int("undelivered", left))
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// drain waits until every job this replica queued is final, or ctx ends.
func (s *Server) drain(ctx context.Context) {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for s.watch.waiting("") > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
