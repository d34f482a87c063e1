package imtest

import (
	"io"
	"net/http"
	"sync"
	"time"
)

type faultKind int

const (
	faultCode faultKind = iota + 1
	faultStatus
	faultDropBeforeRead
	faultDropAfterRead
	faultMalformed
	faultTruncated
)

type fault struct {
	kind   faultKind
	code   int
	status int
}

// Faults injects failures into an emulator's next requests, in the order
// they were queued. Its methods are safe for concurrent use.
type Faults struct {
	mu            sync.Mutex
	queue         []fault
	latency       time.Duration
	answerLatency time.Duration
	noContentType bool
}

func (f *Faults) push(n int, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.queue = append(f.queue, ft)
	}
}

// FailNext answers the next n requests with the platform error code (in an
// HTTP 200 body, as the platform does), without processing them.
func (f *Faults) FailNext(n, code int) { f.push(n, fault{kind: faultCode, code: code}) }

// FailNextHTTP answers the next n requests with a bare HTTP status and a
// body that is not the platform's JSON, without processing them.
func (f *Faults) FailNextHTTP(n, status int) { f.push(n, fault{kind: faultStatus, status: status}) }

// DropBeforeRead closes the connection of the next n requests before
// reading their bodies: nothing is processed.
func (f *Faults) DropBeforeRead(n int) { f.push(n, fault{kind: faultDropBeforeRead}) }

// DropAfterRead processes the next n requests (a message is delivered) and
// then closes the connection without answering: the client cannot know.
func (f *Faults) DropAfterRead(n int) { f.push(n, fault{kind: faultDropAfterRead}) }

// Malformed processes the next n requests and answers with bytes that are
// not JSON.
func (f *Faults) Malformed(n int) { f.push(n, fault{kind: faultMalformed}) }

// Truncated processes the next n requests and answers with the first half
// of the real answer.
func (f *Faults) Truncated(n int) { f.push(n, fault{kind: faultTruncated}) }

// Latency delays every answer by d (0 for none).
func (f *Faults) Latency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// NoContentType makes answers carry no Content-Type header, as some
// platform endpoints do.
func (f *Faults) NoContentType(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noContentType = on
}

// Pending reports how many queued faults have not fired yet.
func (f *Faults) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

func (f *Faults) next() (ft *fault, latency, answerLatency time.Duration, noCT bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) > 0 {
		x := f.queue[0]
		f.queue = f.queue[1:]
		ft = &x
	}
	return ft, f.latency, f.answerLatency, f.noContentType
}

// AnswerLatency processes every request at once (a message is delivered)
// and answers d later (0 for none): a crash of the client in that gap
// leaves a delivered message it never heard of.
func (f *Faults) AnswerLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answerLatency = d
}

// serve runs process under the fault plan. process reads the request and
// returns the answer body; codeBody renders an injected error code.
func (f *Faults) serve(w http.ResponseWriter, r *http.Request, process func() []byte, codeBody func(code int) []byte) {
	ft, latency, answerLatency, noCT := f.next()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	write := func(status int, body []byte) {
		if !noCT {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		} else {
			w.Header()["Content-Type"] = nil // suppress sniffing too
		}
		if answerLatency > 0 {
			select {
			case <-time.After(answerLatency):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
	if ft == nil {
		write(http.StatusOK, process())
		return
	}
	switch ft.kind {
	case faultCode:
		_, _ = io.Copy(io.Discard, r.Body)
		write(http.StatusOK, codeBody(ft.code))
	case faultStatus:
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(ft.status)
		_, _ = io.WriteString(w, "<html>injected failure</html>")
	case faultDropBeforeRead:
		hijackClose(w)
	case faultDropAfterRead:
		process()
		hijackClose(w)
	case faultMalformed:
		process()
		write(http.StatusOK, []byte("<html>not json"))
	case faultTruncated:
		b := process()
		write(http.StatusOK, b[:len(b)/2])
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
		}
	}
}
