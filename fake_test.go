package middleware

import (
	"context"
	"sync"
)

// fakeBackend records what it is asked to send and answers with n and err.
type fakeBackend struct {
	mu    sync.Mutex
	msgs  []*Message
	n     int
	err   error
	send  func(ctx context.Context, msg *Message) (int, error)
	valid func(msg *Message) error
}

func (f *fakeBackend) Send(ctx context.Context, msg *Message) (int, error) {
	f.mu.Lock()
	f.msgs = append(f.msgs, msg)
	f.mu.Unlock()
	if f.send != nil {
		return f.send(ctx, msg)
	}
	if f.n == 0 && f.err == nil {
		return 1, nil
	}
	return f.n, f.err
}

func (f *fakeBackend) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

func (f *fakeBackend) last() *Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) == 0 {
		return nil
	}
	return f.msgs[len(f.msgs)-1]
}

// validatingBackend adds the optional Validator interface.
type validatingBackend struct{ *fakeBackend }

func (v validatingBackend) Validate(msg *Message) error { return v.valid(msg) }
