package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/imbridge/middleware"
)

// verbose is -v: a line on stderr for every HTTP request the backends
// make, every wait for a budget and every upload. It is an Observer, so it
// sees what the SDK reports and nothing more: hosts and API names, never
// URLs, queries, bodies or secrets.
type verbose struct {
	middleware.NoopObserver
	mu  sync.Mutex
	out io.Writer
}

func (v *verbose) printf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.out, "imbridge: -v: "+format+"\n", args...)
}

// Attempt prints one request and its answer.
func (v *verbose) Attempt(_ context.Context, a middleware.AttemptInfo) {
	answer := fmt.Sprintf("HTTP %d", a.Status)
	switch {
	case a.Status == 0 && a.Written:
		answer = "no answer (it may have arrived)"
	case a.Status == 0:
		answer = "not sent"
	case a.Code != 0:
		answer += fmt.Sprintf(", code %d", a.Code)
	}
	retry := ""
	if a.Retry > 0 {
		retry = fmt.Sprintf(" (retry %d)", a.Retry)
	}
	v.printf("%s %s %s %s%s: %s in %s", a.Backend, a.Method, visible(a.Host), visible(a.API), retry, answer, a.Duration.Round(100_000))
}

// Wait prints a booking against a rate budget.
func (v *verbose) Wait(_ context.Context, w middleware.WaitInfo) {
	if w.Refused {
		v.printf("%s budget (%s): no slot in time, next in %s: nothing sent", w.Backend, visible(w.Reason), w.Wait.Round(1_000_000))
		return
	}
	if w.Wait > 0 {
		v.printf("%s budget (%s): waited %s", w.Backend, visible(w.Reason), w.Wait.Round(1_000_000))
	}
}

// Upload prints a media upload, or a reuse of one.
func (v *verbose) Upload(_ context.Context, u middleware.UploadInfo) {
	if u.CacheHit {
		v.printf("%s %s: reused an earlier upload", u.Backend, u.Type)
		return
	}
	v.printf("%s %s: uploaded %d bytes in %s", u.Backend, u.Type, u.Bytes, u.Duration.Round(100_000))
}
