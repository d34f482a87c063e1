package imtest

import (
	"context"
	"sync"

	"github.com/imbridge/middleware"
)

var _ middleware.Backend = (*Recorder)(nil)

// Recorded is one message a Recorder received.
type Recorded struct {
	IM, AccountID, GroupCode, UserID, Title string
	// Items are the items as given; Media holds each media item's bytes
	// (nil for text), read through the same path a backend uses.
	Items []middleware.Item
	Media [][]byte
	// Names and MIMEs are each media item's resolved name and type.
	Names, MIMEs []string
	Fields       map[string]any
	Extras       []any
}

// Texts returns the text of every text and markdown item.
func (r Recorded) Texts() []string {
	var out []string
	for _, it := range r.Items {
		if !it.Type.IsMedia() {
			out = append(out, it.Text)
		}
	}
	return out
}

// Message rebuilds the message as the backend received it, for the
// backends' readers of their own options (wecom.OptionsOf,
// timchat.OptionsOf).
func (r Recorded) Message() *middleware.Message {
	return &middleware.Message{IM: r.IM, AccountID: r.AccountID, GroupCode: r.GroupCode, UserID: r.UserID, Title: r.Title,
		Items: r.Items, Fields: r.Fields, Extras: r.Extras}
}

// Recorder is a middleware.Backend that records messages without any HTTP,
// for unit tests of bot code. It reports one delivery per target id (1
// when there is none). It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	msgs []Recorded
	errs []error
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// FailNext makes the next Send calls return errs, one each, in order,
// without recording.
func (r *Recorder) FailNext(errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, errs...)
}

// Send records msg, reading its media.
func (r *Recorder) Send(ctx context.Context, msg *middleware.Message) (int, error) {
	r.mu.Lock()
	if len(r.errs) > 0 {
		err := r.errs[0]
		r.errs = r.errs[1:]
		r.mu.Unlock()
		return 0, err
	}
	r.mu.Unlock()
	rec := Recorded{IM: msg.IM, AccountID: msg.AccountID, GroupCode: msg.GroupCode, UserID: msg.UserID, Title: msg.Title,
		Items: append([]middleware.Item(nil), msg.Items...), Fields: msg.Fields, Extras: msg.Extras,
		Media: make([][]byte, len(msg.Items)), Names: make([]string, len(msg.Items)), MIMEs: make([]string, len(msg.Items))}
	for i, it := range msg.Items {
		if !it.Type.IsMedia() {
			continue
		}
		md, err := msg.OpenMedia(ctx, i, 0)
		if err != nil {
			return 0, err
		}
		data, err := md.Bytes(ctx)
		if err != nil {
			return 0, err
		}
		rec.Media[i], rec.Names[i], rec.MIMEs[i] = data, md.Name, md.MIME
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, rec)
	r.mu.Unlock()
	return max(1, len(msg.Groups())+len(msg.Users())), nil
}

// Messages returns what was recorded, in order.
func (r *Recorder) Messages() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.msgs...)
}

// Last returns the last message, and false when there is none.
func (r *Recorder) Last() (Recorded, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) == 0 {
		return Recorded{}, false
	}
	return r.msgs[len(r.msgs)-1], true
}

// Reset forgets every message and queued failure.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs, r.errs = nil, nil
}
