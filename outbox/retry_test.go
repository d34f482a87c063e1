package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imbridge/middleware"
)

// TestDecide is the table of every retry decision: on types and
// sentinels, never on text; what it does not know fails.
func TestDecide(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("middleware: push to wecom as ops: %w", err) }
	for _, tc := range []struct {
		name string
		n    int
		err  error
		want decision
	}{
		{"the client's own budget", 0, wrap(&middleware.LimitError{Backend: "wecom", RetryAfter: time.Second}), wait},
		{"reached some targets", 1, wrap(errors.New("x")), maybe},
		{"a timeout after writing", 0, wrap(fmt.Errorf("wecom: %w (not retried): timeout", middleware.ErrMaybeDelivered)), maybe},
		{"a partial delivery", 0, wrap(&middleware.PartialError{SentParts: 1, Err: errors.New("45009")}), maybe},
		{"a 5xx that may have passed", 0, wrap(&middleware.APIError{HTTPStatus: 502, Kind: middleware.ErrMaybeDelivered}), maybe},
		{"the platform's rate limit", 0, wrap(&middleware.APIError{Code: 45009, Kind: middleware.ErrRateLimited}), again},
		{"an offline account", 0, wrap(middleware.ErrAccountOffline), again},
		{"a request that never left", 0, wrap(fmt.Errorf("wecom: %w: dial tcp: refused", middleware.ErrUnsent)), again},
		{"a deadline before sending", 0, wrap(fmt.Errorf("%w: %w", middleware.ErrUnsent, context.DeadlineExceeded)), again},
		{"a 5xx judged undelivered", 0, wrap(&middleware.APIError{HTTPStatus: 500}), again},
		{"an invalid item", 0, wrap(middleware.ErrInvalidItem), fail},
		{"refused credentials", 0, wrap(middleware.ErrUnauthorized), fail},
		{"a 4xx", 0, wrap(&middleware.APIError{HTTPStatus: 404}), fail},
		{"an unknown account", 0, wrap(middleware.ErrUnknownAccount), fail},
		{"an error nobody typed", 0, wrap(io.ErrUnexpectedEOF), fail},
		{"a bare deadline, with no word that nothing left", 0, context.DeadlineExceeded, fail},
	} {
		if got := decide(tc.n, tc.err); got != tc.want {
			t.Errorf("%s: decide = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestUnknownStoredFieldFails: a job written by a newer version with a
// field this one does not know is refused with it named.
func TestUnknownStoredFieldFails(t *testing.T) {
	t.Parallel()
	_, err := decodeSpec([]byte(`{"helper":"push","im":"wecom","items":[{"Type":"text","Text":"x"}],"priority":"high"}`))
	if err == nil || !strings.Contains(err.Error(), "priority") {
		t.Fatalf("decodeSpec = %v, want an error naming the field", err)
	}
}

// TestKeepParts: a push that stopped part-way keeps the count of what went
// and is decided on the failure of the rest; one resumed that fails at its
// first new message is tried again, not taken for "maybe delivered".
func TestKeepParts(t *testing.T) {
	t.Parallel()
	limit := &middleware.APIError{Code: 45009, Kind: middleware.ErrRateLimited}
	for _, tc := range []struct {
		name      string
		parts     int
		err       error
		wantParts int
		want      decision
	}{
		{"stopped after 3 of 5", 0, &middleware.PartialError{SentParts: 3, FailedItem: 0, Err: limit}, 3, again},
		{"resumed after 3, refused at the 4th", 3, &middleware.PartialError{SentParts: 3, FailedItem: 0, Err: limit}, 3, again},
		{"the failed message may have arrived", 0, &middleware.PartialError{SentParts: 2, MaybeDelivered: true, Err: limit}, 2, maybe},
		{"some targets failed", 0, &middleware.PartialError{SentParts: 1, FailedTargets: []middleware.TargetFailure{{ID: "u"}}, Err: limit}, 1, maybe},
		{"not partial", 2, limit, 2, again},
	} {
		a := &attempt{jobs: []*Job{{JobStatus: JobStatus{Parts: tc.parts}}}}
		reached := 0 // a backend reports its target reached only with a partial delivery
		var pe *middleware.PartialError
		if errors.As(tc.err, &pe) {
			reached = 1
		}
		n, err := a.keepParts(reached, tc.err)
		if got := decide(n, err); got != tc.want || a.jobs[0].Parts != tc.wantParts {
			t.Errorf("%s: decide %s with %d parts kept, want %s with %d", tc.name, got, a.jobs[0].Parts, tc.want, tc.wantParts)
		}
	}
}
