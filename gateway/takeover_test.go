package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imbridge/middleware/outbox"
)

// stuckMarks are shared marks whose Commit never returns for one replica:
// that replica queued its jobs and then stopped, as one killed between
// queueing and committing does.
type stuckMarks struct {
	Marks
	stuck <-chan struct{}
}

func (m stuckMarks) Commit(ctx context.Context, key, token, value string, window time.Duration) (bool, error) {
	<-m.stuck
	return false, context.Canceled
}

// A replica that stops after queueing a notification's jobs and before
// committing its mark: the copy that comes once its hold lapsed is taken
// over with the same stamp, finds those jobs by their keys, and queues
// nothing again. One message reaches the chat; the answer names the
// first replica's job.
func TestTakeoverFindsTheStoppedHoldersJobs(t *testing.T) {
	t.Parallel()
	marks := NewMemoryMarks()
	store := outbox.NewMemoryStore(time.Hour)
	stuck := make(chan struct{})
	a := start(t, baseConfig, nil, WithMarks(stuckMarks{Marks: marks, stuck: stuck}), WithStore(store))
	cfg := strings.ReplaceAll(baseConfig, "ACCOUNTS\n", accountLines(a.wc, a.tim))
	b := start(t, cfg, nil, WithMarks(marks), WithStore(store))
	t.Cleanup(func() { close(stuck) }) // runs first: the stuck handler returns
	a.srv.hold, b.srv.hold = 300*time.Millisecond, 300*time.Millisecond

	body := mustJSON(t, notification("Takeover", []string{"h1", "h2"}, nil))
	go func() {
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Post(a.url+"/alertmanager/ops", "application/json", strings.NewReader(string(body)))
		if err == nil {
			resp.Body.Close()
		}
	}()
	a.wecomMessages(1) // a's job is queued and delivered; a never answers
	// While a's hold runs, a copy is told to retry; after, it is taken.
	if code, _ := b.post("/alertmanager/ops", body); code != http.StatusServiceUnavailable {
		t.Fatalf("during the hold: %d", code)
	}
	time.Sleep(400 * time.Millisecond)
	code, answer := b.post("/alertmanager/ops", body)
	var rec Record
	if err := json.Unmarshal([]byte(answer), &rec); err != nil || code != 200 || rec.Outcome != OutcomeQueued {
		t.Fatalf("after the hold: %d %s", code, answer)
	}
	st, err := b.srv.box.Status(context.Background(), rec.Jobs[0])
	if err != nil || st.State != outbox.JobSent {
		t.Fatalf("the job b named: %+v %v", st, err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(a.wc.Messages()); n != 1 {
		t.Fatalf("%d messages: the takeover queued the notification again", n)
	}
	// And the next copy is a plain duplicate of that job.
	if _, answer := b.post("/alertmanager/ops", body); !strings.Contains(answer, `"deduplicated"`) || !strings.Contains(answer, rec.Jobs[0]) {
		t.Fatalf("the next copy: %s", answer)
	}
}
