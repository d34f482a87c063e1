package timchat

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/extras"
)

// The windows in which TIM drops a repeated message: one-to-one messages
// with the same sender, MsgSeq, MsgRandom and content, group messages with
// the same Random.
const (
	C2CDedupWindow   = 120 * time.Second
	GroupDedupWindow = 5 * time.Minute
)

// EncodeOptions stores this backend's options among x for an outbox (see
// outbox.OptionCodec): Options as it is; nil when there are none.
func (c *Client) EncodeOptions(x []any) ([]byte, error) { return extras.Encode[Options](x) }

// DecodeOptions reads back what EncodeOptions stored. A field this version
// does not know is an error: the push would otherwise go out without it.
func (c *Client) DecodeOptions(data []byte) (middleware.Option, error) {
	return extras.Decode[Options]("timchat", data)
}

// Messages says how many TIM messages msg takes per target, without I/O
// (see outbox.Planner): one, or one per media item with SplitMixed.
// Text over BodyLimit is middleware.ErrTooLarge.
func (c *Client) Messages(msg *middleware.Message) (int, error) {
	o := readOpts(msg.Extras)
	if err := c.validate(msg, &o); err != nil {
		return 0, err
	}
	n := 0
	tail := false
	for _, it := range msg.Items {
		tail = true
		if o.SplitMixed && it.Type.IsMedia() {
			n, tail = n+1, false
		}
	}
	if tail {
		n++
	}
	return n, nil
}

// DedupWindow is how long TIM drops a resend of msg with the same
// middleware.Message.IdempotencyKey (see outbox.Deduplicator): 5
// minutes to groups, 120 s to users, never for a broadcast.
func (c *Client) DedupWindow(msg *middleware.Message) time.Duration {
	o := readOpts(msg.Extras)
	switch {
	case o.Broadcast:
		return 0
	case len(msg.Groups()) > 0:
		return GroupDedupWindow
	}
	return C2CDedupWindow
}

// dedup returns the dedup field named by parts (the field, the target, the
// message's place in the push) for msg: random without an idempotency
// key, else the same for every attempt with that key.
func dedup(msg *middleware.Message, parts ...string) uint32 {
	if msg.IdempotencyKey == 0 {
		return rand.Uint32()
	}
	h := sha256.New()
	var k [8]byte
	binary.LittleEndian.PutUint64(k[:], msg.IdempotencyKey)
	h.Write(k[:])
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return binary.LittleEndian.Uint32(h.Sum(nil))
}
