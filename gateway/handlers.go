package gateway

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imbridge/middleware"
)

// reserveHold is how long a replica holds a notification's key while it
// queues the notification: a replica that dies meanwhile blocks the
// copies (answered 503, so retried) this long at most.
const reserveHold = 15 * time.Second

// Handler is the gateway's HTTP API:
//
//	POST /alertmanager/{route}  Alertmanager's webhook (version 4)
//	POST /grafana/{route}       Grafana's webhook (version 1; PUT too), signature checked when the route has a secret
//	POST /send/{route}          {"title","text"} or {"markdown"}
//	GET  /history/{route}       the route's last notifications and what became of them
//	GET  /healthz, /readyz      alive; ready (the store answers)
//	GET  /metrics               Prometheus counters per route
//
// 200 means queued durably (or a copy of a notification already queued);
// 503 means try again (the store is down, the route's queue is full);
// 4xx means it never will succeed (malformed 400, unauthenticated 401,
// unknown route 404, too large 413).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /alertmanager/{route}", s.alert(SourceAlertmanager))
	mux.HandleFunc("POST /grafana/{route}", s.alert(SourceGrafana))
	mux.HandleFunc("PUT /grafana/{route}", s.alert(SourceGrafana)) // a contact point may be set to PUT
	mux.HandleFunc("POST /send/{route}", s.send)
	mux.HandleFunc("GET /history/{route}", s.history)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.m.handler())
	return mux
}

// reply writes v as JSON with status.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// refuse answers status with the reason, counted per route.
func (s *Server) refuse(w http.ResponseWriter, route string, status int, reason string) {
	s.m.rejected.WithLabelValues(route, strconv.Itoa(status)).Inc()
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	reply(w, status, map[string]string{"error": reason})
}

// open finds the request's route and checks its token, answering 404 or
// 401 when it cannot go on.
func (s *Server) open(w http.ResponseWriter, r *http.Request) (*route, bool) {
	name := r.PathValue("route")
	rt, ok := s.routes[name]
	if !ok {
		s.refuse(w, "", http.StatusNotFound, "no such route")
		return nil, false
	}
	if rt.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(rt.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="imbridge"`)
			s.refuse(w, name, http.StatusUnauthorized, "missing or wrong bearer token")
			return nil, false
		}
	}
	return rt, true
}

// body reads the request body whole, up to max_body: past it the answer
// is 413, never a cut notification.
func (s *Server) body(w http.ResponseWriter, r *http.Request, rt *route) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.refuse(w, rt.Name, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over max_body (%d bytes)", s.cfg.MaxBody))
		return nil, false
	case err != nil:
		s.refuse(w, rt.Name, http.StatusBadRequest, "body could not be read")
		return nil, false
	}
	return b, true
}

// alert takes a webhook notification of source.
func (s *Server) alert(source Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rt, ok := s.open(w, r)
		if !ok {
			return
		}
		b, ok := s.body(w, r, rt)
		if !ok {
			return
		}
		if source == SourceGrafana && rt.GrafanaSecret != "" {
			if err := verifyGrafana(r.Header, b, rt, s.now()); err != nil {
				s.refuse(w, rt.Name, http.StatusUnauthorized, err.Error())
				return
			}
		}
		n, err := decodeNotification(source, b)
		if err != nil {
			s.refuse(w, rt.Name, http.StatusBadRequest, err.Error())
			return
		}
		s.m.received.WithLabelValues(rt.Name, string(source)).Inc()
		s.take(r.Context(), w, rt, source, n)
	}
}

// take queues notification n of rt once: a copy already queued (by any
// replica) is answered 200 and not queued again.
func (s *Server) take(ctx context.Context, w http.ResponseWriter, rt *route, source Source, n *Notification) {
	rec := Record{At: s.now().UTC(), Replica: s.replica, Source: source, Status: n.Status, GroupKey: n.GroupKey}
	rec.Firing, rec.Resolved = n.counts()
	if !rt.SendResolved() {
		if n = n.withoutResolved(); n == nil {
			s.m.skipped.WithLabelValues(rt.Name).Inc()
			rec.Outcome = OutcomeSkipped
			s.record(ctx, rt, rec)
			reply(w, http.StatusOK, rec)
			return
		}
	}
	key, token := n.dedupKey(rt.Name, source), randomHex(8)
	stamp, value, err := s.marks.Reserve(ctx, key, token, randomHex(8), s.hold, s.cfg.DedupWindow)
	switch {
	case err != nil:
		s.log.Error("gateway: dedup store", slog.String("route", rt.Name), slog.String("error", err.Error()))
		s.refuse(w, rt.Name, http.StatusServiceUnavailable, "the store does not answer")
		return
	case value != "":
		s.m.deduplicated.WithLabelValues(rt.Name).Inc()
		rec.Outcome, rec.Jobs = OutcomeDeduplicated, strings.Split(value, ",")
		s.record(ctx, rt, rec)
		reply(w, http.StatusOK, rec)
		return
	case stamp == "":
		s.refuse(w, rt.Name, http.StatusServiceUnavailable, "another replica is queueing this notification")
		return
	}
	release := func() { _ = s.marks.Release(context.WithoutCancel(ctx), key, token) }
	if s.watch.waiting(rt.Name) >= s.cfg.QueueLimit {
		// A copy of a queued notification was answered above; a new one
		// waits for room.
		release()
		s.refuse(w, rt.Name, http.StatusServiceUnavailable, fmt.Sprintf("the route's queue is full (queue_limit %d)", s.cfg.QueueLimit))
		return
	}
	text := s.write(rt, n)
	rec.Title, _, _ = strings.Cut(text, "\n")
	// Every job is keyed from the reservation's stamp, which a takeover
	// inherits: what an earlier holder queued before it died, or before
	// the store failed part-way, is found by its key, not queued again.
	ids, err := s.enqueue(ctx, rt.requests(text, n.Status == StatusFiring, key+"|"+stamp))
	if err != nil {
		release()
		s.enqueueFailed(w, rt, err)
		return
	}
	if ok, err := s.marks.Commit(context.WithoutCancel(ctx), key, token, strings.Join(ids, ","), s.cfg.DedupWindow); err != nil || !ok {
		// Queued all the same: answer 200. Another holder that took over
		// found these jobs by their keys; the log says so.
		s.log.Warn("gateway: dedup mark not committed; a copy that took over found the same jobs",
			slog.String("route", rt.Name), slog.String("job", ids[0]), slog.Any("error", err))
	}
	s.queued(ctx, w, rt, rec, ids)
}

// enqueue queues the requests in order and returns their job ids: on an
// error, those of the requests queued before it.
func (s *Server) enqueue(ctx context.Context, reqs []middleware.Request) ([]string, error) {
	ids := make([]string, 0, len(reqs))
	for _, r := range reqs {
		id, err := s.box.Enqueue(ctx, r)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// queued counts, records and answers a queued job.
func (s *Server) queued(ctx context.Context, w http.ResponseWriter, rt *route, rec Record, ids []string) {
	for _, id := range ids {
		s.watch.add(id, rt.Name)
	}
	s.m.queued.WithLabelValues(rt.Name).Inc()
	rec.Outcome, rec.Jobs = OutcomeQueued, ids
	s.record(ctx, rt, rec)
	reply(w, http.StatusOK, rec)
}

// enqueueFailed answers an Enqueue error: the SDK's refusal of the push
// itself (it would never succeed) is 422, anything else 503.
func (s *Server) enqueueFailed(w http.ResponseWriter, rt *route, err error) {
	for _, bad := range []error{middleware.ErrInvalidItem, middleware.ErrInvalidTarget, middleware.ErrInvalidOption, middleware.ErrTooLarge, middleware.ErrUnsupported} {
		if errors.Is(err, bad) {
			s.log.Error("gateway: push refused", slog.String("route", rt.Name), slog.String("error", err.Error()))
			s.refuse(w, rt.Name, http.StatusUnprocessableEntity, err.Error())
			return
		}
	}
	s.log.Error("gateway: queueing failed", slog.String("route", rt.Name), slog.String("error", err.Error()))
	s.refuse(w, rt.Name, http.StatusServiceUnavailable, "the store does not answer")
}

// sendBody is POST /send/{route}'s body.
type sendBody struct {
	Title    string `json:"title"`
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

// IdempotencyKeyHeader names a /send request's idempotency key: the same
// key on the same route queues the message once, so a retry after an
// answer that was lost, or after a 503 part-way through a long message,
// never sends a part twice.
const IdempotencyKeyHeader = "Idempotency-Key"

// send queues a plain message. Without an Idempotency-Key header each POST
// is a new message.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	rt, ok := s.open(w, r)
	if !ok {
		return
	}
	b, ok := s.body(w, r, rt)
	if !ok {
		return
	}
	var in sendBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		s.refuse(w, rt.Name, http.StatusBadRequest, `want {"title","text"} or {"markdown"}: `+jsonErr(err))
		return
	}
	key := r.Header.Get(IdempotencyKeyHeader)
	if len(key) > 200 {
		s.refuse(w, rt.Name, http.StatusBadRequest, IdempotencyKeyHeader+": at most 200 characters")
		return
	}
	given := key != ""
	if !given {
		key = randomHex(12)
	}
	reqs, err := rt.plain(in, "send|"+rt.Name+"|"+key)
	if err != nil {
		s.refuse(w, rt.Name, http.StatusBadRequest, err.Error())
		return
	}
	s.m.received.WithLabelValues(rt.Name, string(SourceSend)).Inc()
	ids, err := s.enqueue(r.Context(), reqs)
	if err != nil && len(ids) > 0 && !given {
		// Some parts are queued: a retry must not queue them again. Its
		// parts' keys came from this key; the caller retries with it.
		s.log.Error("gateway: queueing failed part-way", slog.String("route", rt.Name), slog.Int("queued", len(ids)), slog.String("error", err.Error()))
		s.m.rejected.WithLabelValues(rt.Name, "503").Inc()
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "the store stopped answering part-way",
			"queued_parts": len(ids), "parts": len(reqs), "retry_with_header": IdempotencyKeyHeader + ": " + key})
		return
	}
	if err != nil {
		s.enqueueFailed(w, rt, err)
		return
	}
	rec := Record{At: s.now().UTC(), Replica: s.replica, Source: SourceSend, Title: in.Title}
	s.queued(r.Context(), w, rt, rec, ids)
}

// plain is the pushes of a /send body: its text (after its title), or its
// markdown, split into marked parts when longer than one message, each
// keyed from base.
func (rt *route) plain(in sendBody, base string) ([]middleware.Request, error) {
	switch {
	case in.Markdown != "" && (in.Text != "" || in.Title != ""):
		return nil, errors.New("markdown goes alone: give it, or title and text")
	case in.Markdown != "":
		md, ok := markdownOption(rt.im)
		if !ok {
			return nil, fmt.Errorf("markdown: %s takes text only", rt.im)
		}
		reqs := rt.requests(in.Markdown, false, base)
		for i := range reqs {
			reqs[i].Options = append(reqs[i].Options, md)
		}
		return reqs, nil
	case strings.TrimSpace(in.Text) == "":
		return nil, errors.New("text: empty")
	case in.Title != "":
		return rt.requests(in.Title+"\n"+in.Text, false, base), nil
	}
	return rt.requests(in.Text, false, base), nil
}

// readyz answers 200 when the store answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			reply(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": "the store does not answer"})
			return
		}
	}
	reply(w, http.StatusOK, map[string]string{"status": "ready"})
}
