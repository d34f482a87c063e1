package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/imbridge/middleware/outbox"
)

// Outcome is what became of a notification when it arrived.
type Outcome string

// The outcomes.
const (
	OutcomeQueued       Outcome = "queued"       // queued: its jobs deliver it
	OutcomeDeduplicated Outcome = "deduplicated" // a copy of one queued before (Jobs are that one's)
	OutcomeSkipped      Outcome = "skipped"      // resolved, on a route with resolved: false
)

// Record is one notification in a route's history.
type Record struct {
	At       time.Time `json:"at"`
	Replica  string    `json:"replica"`
	Source   Source    `json:"source"`
	Outcome  Outcome   `json:"outcome"`
	Status   string    `json:"status,omitempty"`
	GroupKey string    `json:"group_key,omitempty"`
	Firing   int       `json:"firing"`
	Resolved int       `json:"resolved"`
	Title    string    `json:"title,omitempty"`
	// Jobs are the outbox jobs that deliver it, one per part (for a
	// copy: the first's).
	Jobs []string `json:"jobs,omitempty"`
	// Delivery is where its jobs stand when the history was read: the
	// first that is not sent, else the last.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// Delivery is where a notification's job stands.
type Delivery struct {
	// State is queued, sending, sent, failed or maybe_delivered; unknown
	// when the store no longer has the job.
	State      string    `json:"state"`
	ErrorClass string    `json:"error_class,omitempty"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts"`
	Updated    time.Time `json:"updated,omitzero"`
}

// record appends rec to rt's history; a journal that fails is logged, not
// fatal: the notification is queued all the same.
func (s *Server) record(ctx context.Context, rt *route, rec Record) {
	b, _ := json.Marshal(rec)
	if err := s.journal.Append(context.WithoutCancel(ctx), rt.Name, b, s.cfg.History); err != nil {
		s.log.Warn("gateway: history not kept", slog.String("route", rt.Name), slog.String("error", err.Error()))
	}
}

// history answers GET /history/{route}?limit=N: the newest notifications
// first, each with its job's state read now from the store, whichever
// replica delivers it.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	rt, ok := s.open(w, r)
	if !ok {
		return
	}
	limit := s.cfg.History
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			s.refuse(w, rt.Name, http.StatusBadRequest, "limit: a positive number")
			return
		}
		limit = min(n, limit)
	}
	entries, err := s.journal.Recent(r.Context(), rt.Name, limit)
	if err != nil {
		s.refuse(w, rt.Name, http.StatusServiceUnavailable, "the store does not answer")
		return
	}
	out := make([]Record, 0, len(entries))
	for _, e := range entries {
		var rec Record
		if json.Unmarshal(e, &rec) != nil {
			continue
		}
		if len(rec.Jobs) > 0 {
			rec.Delivery = s.delivery(r.Context(), rec.Jobs)
		}
		out = append(out, rec)
	}
	reply(w, http.StatusOK, out)
}

// delivery reads the state of a notification's jobs: the first part
// that is not sent says where it stands; all sent, the last.
func (s *Server) delivery(ctx context.Context, ids []string) *Delivery {
	var d *Delivery
	for _, id := range ids {
		st, err := s.box.Status(ctx, id)
		if err != nil {
			return &Delivery{State: "unknown"}
		}
		d = &Delivery{State: string(st.State), ErrorClass: st.LastErrorClass, Error: st.LastError, Attempts: st.Attempts, Updated: st.Updated}
		if st.State != outbox.JobSent {
			return d
		}
	}
	return d
}
