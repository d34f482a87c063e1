// Package testkit holds what the backends' test suites share: a scan that
// collects every error and log record a suite produces, so that one check
// at the end proves no secret leaked, and golden request bodies.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/redact"
)

// Collector gathers texts from a slog handler and wrapped backends. It is
// safe for concurrent use.
type Collector struct {
	mu      sync.Mutex
	texts   []string
	secrets map[string]bool
}

// NewCollector returns an empty Collector.
func NewCollector() *Collector { return &Collector{secrets: map[string]bool{}} }

// Secret registers a value that must never show up, in any of the
// spellings a server or a library could echo (redact.Spellings).
func (c *Collector) Secret(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range redact.Spellings(s) {
		c.secrets[v] = true
	}
}

// Add records text.
func (c *Collector) Add(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.texts = append(c.texts, text)
}

// AddError records err in every format a caller might print it, and every
// error in its chain, which a caller reaches with errors.As.
func (c *Collector) AddError(err error) {
	if err == nil {
		return
	}
	c.Add(fmt.Sprintf("%v | %+v | %#v", err, err, err))
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		c.AddError(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			c.AddError(e)
		}
	}
}

// Logger returns a logger whose records, in JSON, are collected.
func (c *Collector) Logger() *slog.Logger {
	return slog.New(&handler{c: c, attrs: nil})
}

// Wrap returns b with every error it returns collected.
func (c *Collector) Wrap(b middleware.Backend) middleware.Backend { return &wrapped{c: c, b: b} }

type wrapped struct {
	c *Collector
	b middleware.Backend
}

func (w *wrapped) Send(ctx context.Context, m *middleware.Message) (int, error) {
	n, err := w.b.Send(ctx, m)
	w.c.AddError(err)
	return n, err
}

// Validate keeps the optional interface of the wrapped backend.
func (w *wrapped) Validate(m *middleware.Message) error {
	if v, ok := w.b.(middleware.Validator); ok {
		err := v.Validate(m)
		w.c.AddError(err)
		return err
	}
	return nil
}

// Check returns a description of every leak, "" when there is none, and
// how many texts and secrets it compared.
func (c *Collector) Check() (leaks string, texts, secrets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for s := range c.secrets {
		for _, t := range c.texts {
			if strings.Contains(t, s) {
				fmt.Fprintf(&b, "a secret was found in: %.300s\n", strings.ReplaceAll(t, s, "<SECRET>"))
			}
		}
	}
	return b.String(), len(c.texts), len(c.secrets)
}

type handler struct {
	c     *Collector
	attrs []slog.Attr
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	var buf bytes.Buffer
	jh := slog.NewJSONHandler(&buf, nil)
	r.AddAttrs(h.attrs...)
	if err := jh.Handle(context.Background(), r); err != nil {
		return err
	}
	h.c.Add(buf.String())
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{c: h.c, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *handler) WithGroup(string) slog.Handler { return h }
