package wecom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/imbridge/middleware"
)

// pace is a bot's rate budgets: per chat and over all its chats, in one
// window.
type pace struct {
	perChat, perBot int
	window          time.Duration
	scope           string // names the bot in budget keys: a hash of its key
	reason          string // names the budget in a refusal; set once by New
}

// jitterMargin is the share of the window the pacer adds to it: the pacer
// books when a request leaves, WeCom counts when it arrives, and a message
// slowed on its way (a new connection, a retransmit) would otherwise land
// in the same window as one sent a full window after it. With the budget
// saturated (an outbox draining a flood) that edge comes every window.
const jitterMargin = 20 // 1/20: 3 s of a minute

// budgets returns what one message to chatID ("|"-joined ids; "" for the
// bot's own group) spends: one slot of each chat, and one of the bot.
func (p pace) budgets(chatID string) []middleware.Budget {
	if p.perChat == 0 {
		return nil
	}
	window := p.window + p.window/jitterMargin
	ids := strings.Split(chatID, "|")
	out := make([]middleware.Budget, 0, len(ids)+1)
	for _, id := range ids {
		sum := sha256.Sum256([]byte(id)) // chat ids are user data: hashed in shared stores too
		out = append(out, middleware.Budget{Key: p.scope + ":chat:" + hex.EncodeToString(sum[:8]), Limit: p.perChat, Window: window})
	}
	return append(out, middleware.Budget{Key: p.scope + ":bot", Limit: p.perBot, Window: window})
}

// describe names the budgets in a refusal, both of them: the limiter does
// not say which one was full. New calls it once, not every send.
func (p pace) describe() string {
	return fmt.Sprintf("%d messages per %s per chat, %d per bot", p.perChat, p.window, p.perBot)
}

// inflight serializes requests with identical bodies: WeCom refuses a body
// that is already in flight (45033).
// Bodies are keyed by maphash: a collision only serializes two different
// bodies, which is harmless, and hashing a 3 MB image body costs little.
type inflight struct {
	seed maphash.Seed
	mu   sync.Mutex
	busy map[uint64]chan struct{}
}

func newInflight() *inflight {
	return &inflight{seed: maphash.MakeSeed(), busy: make(map[uint64]chan struct{})}
}

// acquire waits until no request with the same body is in flight.
func (f *inflight) acquire(ctx context.Context, body []byte) (release func(), err error) {
	h := maphash.Bytes(f.seed, body)
	for {
		f.mu.Lock()
		ch, ok := f.busy[h]
		if !ok {
			ch = make(chan struct{})
			f.busy[h] = ch
			f.mu.Unlock()
			return func() {
				f.mu.Lock()
				delete(f.busy, h)
				f.mu.Unlock()
				close(ch)
			}, nil
		}
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
