package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imbridge/middleware/outbox"
)

// flakyStore is a store whose Add fails while down, as a Redis that stops
// answering between two writes does.
type flakyStore struct {
	*outbox.MemoryStore
	mu   sync.Mutex
	adds int // Adds that succeed before it goes down; -1: up
}

func (f *flakyStore) Add(ctx context.Context, j *outbox.Job) error {
	f.mu.Lock()
	if f.adds == 0 {
		f.mu.Unlock()
		return errors.New("redis: connection refused")
	}
	if f.adds > 0 {
		f.adds--
	}
	f.mu.Unlock()
	return f.MemoryStore.Add(ctx, j)
}

func (f *flakyStore) up() { f.mu.Lock(); f.adds = -1; f.mu.Unlock() }

// longHosts is a notification long enough for three WeCom messages.
func longNotification() *Notification {
	var hosts []string
	for i := range 60 {
		hosts = append(hosts, fmt.Sprintf("host-%03d.example.internal", i))
	}
	return notification("Long", hosts, nil)
}

// A store that goes down after the first part of a long notification is
// queued: 503; the sender's retry queues only the parts still missing, and
// every part reaches the chat once.
func TestPartialQueueRetried(t *testing.T) {
	t.Parallel()
	store := &flakyStore{MemoryStore: outbox.NewMemoryStore(time.Hour), adds: 1}
	cfg := strings.Replace(baseConfig, "    mentions: [alice]\n", "    mentions: [alice]\n    max_alerts: 100\n", 1)
	h := start(t, cfg, nil, WithStore(store))
	body := mustJSON(t, longNotification())
	if code, b := h.post("/alertmanager/ops", body); code != http.StatusServiceUnavailable {
		t.Fatalf("store down part-way: %d %s", code, b)
	}
	store.up()
	code, b := h.post("/alertmanager/ops", body)
	if code != 200 || !strings.Contains(b, `"queued"`) {
		t.Fatalf("retry: %d %s", code, b)
	}
	parts := split(digest(longNotification(), h.srv.loc, 100), 2048)
	if len(parts) < 3 {
		t.Fatalf("want a notification of 3 parts or more, got %d", len(parts))
	}
	ms := h.wecomMessages(len(parts))
	time.Sleep(300 * time.Millisecond)
	if got := len(h.wc.Messages()); got != len(parts) {
		t.Fatalf("%d messages for %d parts", got, len(parts))
	}
	for i, m := range ms {
		if !strings.HasPrefix(m.Content, fmt.Sprintf("(%d/%d)\n", i+1, len(parts))) {
			t.Fatalf("message %d: %q", i, m.Content[:12])
		}
	}
}

// /send: the same Idempotency-Key queues a message once; without one, a
// failure part-way says which key completes it without repeats.
func TestSendIdempotency(t *testing.T) {
	t.Parallel()
	store := &flakyStore{MemoryStore: outbox.NewMemoryStore(time.Hour), adds: -1}
	h := start(t, baseConfig, nil, WithStore(store))
	for range 2 {
		if code, b := h.post("/send/ops", []byte(`{"text":"once"}`), IdempotencyKeyHeader, "deploy-42"); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	long := strings.Repeat("a line of a long report\n", 200)
	store.mu.Lock()
	store.adds = 1
	store.mu.Unlock()
	code, b := h.post("/send/ops", mustJSON(t, map[string]string{"text": long}))
	var answer struct {
		Queued int    `json:"queued_parts"`
		Parts  int    `json:"parts"`
		Retry  string `json:"retry_with_header"`
	}
	if err := json.Unmarshal([]byte(b), &answer); err != nil || code != 503 || answer.Queued != 1 || answer.Parts < 3 {
		t.Fatalf("%d %s", code, b)
	}
	store.up()
	k, v, _ := strings.Cut(answer.Retry, ": ")
	if code, b := h.post("/send/ops", mustJSON(t, map[string]string{"text": long}), k, v); code != 200 {
		t.Fatalf("retry with %s: %d %s", answer.Retry, code, b)
	}
	h.wecomMessages(1 + answer.Parts)
	time.Sleep(300 * time.Millisecond)
	if got := len(h.wc.Messages()); got != 1+answer.Parts {
		t.Fatalf("%d messages, want 1 + %d parts", got, answer.Parts)
	}
}
