package middleware

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestClient(t *testing.T, b Backend, opts ...ClientOption) *Client {
	t.Helper()
	c, err := NewClient(append([]ClientOption{WithAccount(Account{ID: "bot", IM: "qq", Default: true, Backend: b})}, opts...)...)
	require.NoError(t, err)
	return c
}

func TestPushText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name           string
		group, user    string
		title, content string
		opts           []Option
		wantText       string
		wantErr        error
	}{
		{name: "content", group: "g1", title: "T", content: "hello", wantText: "hello"},
		{name: "empty content falls back to title", user: "u1", title: "T", wantText: "T"},
		{name: "both empty", group: "g1", wantErr: ErrInvalidItem},
		{name: "empty id in list", group: "g1||g2", content: "x", wantErr: ErrInvalidTarget},
		{name: "blank id in list", user: "u1| ", content: "x", wantErr: ErrInvalidTarget},
		{name: "bad timeout", group: "g1", content: "x", opts: []Option{WithTimeout(-time.Second)}, wantErr: ErrInvalidOption},
		{name: "bad options value", group: "g1", content: "x", opts: []Option{WithOptions(map[string]any{"account_id": 7})}, wantErr: ErrInvalidOption},
		{name: "empty field key", group: "g1", content: "x", opts: []Option{WithField("", 1)}, wantErr: ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &fakeBackend{}
			c := newTestClient(t, b)
			n, err := c.Push(ctx, "qq", tt.group, tt.user, tt.title, tt.content, tt.opts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Zero(t, n)
				assert.Zero(t, b.calls(), "nothing sent on bad input")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			m := b.last()
			require.Len(t, m.Items, 1)
			assert.Equal(t, Item{Type: TextItem, Text: tt.wantText}, m.Items[0])
			assert.Equal(t, tt.group, m.GroupCode)
			assert.Equal(t, tt.user, m.UserID)
			assert.Equal(t, "bot", m.AccountID)
		})
	}
}

func TestWithOptionsAndFields(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	c := newTestClient(t, b)
	require.NoError(t, c.AddAccount(Account{ID: "ops", IM: "qq", Backend: b}))
	_, err := c.PushFile(context.Background(), "qq", "g", "", "t", "base64://aGVsbG8gd29ybGQ=",
		WithField("a", 1),
		WithOptions(map[string]any{"accountID": "ops", "file_name": "r.csv", "mime_type": "text/csv", "at_all": true}),
		WithField("a", 2), // last wins
		BackendOption("extra"),
	)
	require.NoError(t, err)
	m := b.last()
	assert.Equal(t, "ops", m.AccountID)
	assert.Equal(t, "r.csv", m.Filename)
	assert.Equal(t, "text/csv", m.MIME)
	assert.Equal(t, map[string]any{"a": 2, "at_all": true}, m.Fields)
	assert.Equal(t, []any{"extra"}, m.Extras)

	// Spelling variants of each key all work, and the last option wins.
	for _, k := range []string{"account_id", "accountID", "accountId"} {
		_, err := c.Push(context.Background(), "qq", "g", "", "", "x", WithOptions(map[string]any{k: "ops"}))
		require.NoError(t, err)
		assert.Equal(t, "ops", b.last().AccountID, k)
	}
	for _, k := range []string{"filename", "fileName", "file_name"} {
		_, err := c.PushFile(context.Background(), "qq", "g", "", "", "base64://aGVsbG8=", WithOptions(map[string]any{k: "n.txt"}), WithMIME("a/b"), WithOptions(map[string]any{"mimeType": "c/d"}))
		require.NoError(t, err)
		assert.Equal(t, "n.txt", b.last().Filename, k)
		assert.Equal(t, "c/d", b.last().MIME)
	}
}

func TestZeroNeverWithoutError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, &fakeBackend{send: func(context.Context, *Message) (int, error) { return 0, nil }})
	n, err := c.Push(ctx, "qq", "g", "", "", "x")
	require.ErrorIs(t, err, ErrNotSent)
	assert.Zero(t, n)

	c = newTestClient(t, &fakeBackend{send: func(context.Context, *Message) (int, error) { return -3, nil }})
	n, err = c.Push(ctx, "qq", "g", "", "", "x")
	require.ErrorIs(t, err, ErrNotSent)
	assert.Zero(t, n)

	apiErr := &APIError{Backend: "x", Code: 45009, Kind: ErrRateLimited, RetryAfter: time.Second}
	c = newTestClient(t, &fakeBackend{err: apiErr})
	n, err = c.Push(ctx, "qq", "g", "", "", "x")
	require.ErrorIs(t, err, ErrRateLimited)
	var got *APIError
	require.ErrorAs(t, err, &got)
	assert.Equal(t, 45009, got.Code)
	assert.Zero(t, n)
}

func TestValidatorRunsBeforeSend(t *testing.T) {
	t.Parallel()
	fb := &fakeBackend{valid: func(m *Message) error {
		if m.GroupCode == "" && m.UserID == "" {
			return ErrInvalidTarget
		}
		return nil
	}}
	c := newTestClient(t, validatingBackend{fb})
	_, err := c.Push(context.Background(), "qq", "", "", "", "x")
	require.ErrorIs(t, err, ErrInvalidTarget)
	assert.Zero(t, fb.calls())
	_, err = c.Push(context.Background(), "qq", "g", "", "", "x")
	require.NoError(t, err)
	assert.Equal(t, 1, fb.calls())
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	b := &fakeBackend{send: func(ctx context.Context, _ *Message) (int, error) {
		d, ok := ctx.Deadline()
		if !ok {
			got = append(got, -1)
		} else {
			got = append(got, time.Until(d))
		}
		return 1, nil
	}}
	ctx := context.Background()
	c := newTestClient(t, b)
	_, _ = c.Push(ctx, "qq", "g", "", "", "x")
	_, _ = c.Push(ctx, "qq", "g", "", "", "x", WithTimeout(time.Hour))
	short, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, _ = c.Push(short, "qq", "g", "", "", "x", WithTimeout(time.Hour))
	c0 := newTestClient(t, b, WithDefaultTimeout(0))
	_, _ = c0.Push(ctx, "qq", "g", "", "", "x")

	require.Len(t, got, 4)
	assert.InDelta(t, DefaultTimeout.Seconds(), got[0].Seconds(), 1, "default 5 s")
	assert.Greater(t, got[1], 59*time.Minute, "WithTimeout sets the call's deadline")
	assert.LessOrEqual(t, got[2], time.Minute, "WithTimeout never extends the caller's deadline")
	assert.Equal(t, time.Duration(-1), got[3], "0 disables the default timeout")

	// A context already done sends nothing.
	done, cancel2 := context.WithCancel(ctx)
	cancel2()
	calls := b.calls()
	_, err := c.Push(done, "qq", "g", "", "", "x")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, calls, b.calls())

	_, err = NewClient(WithDefaultTimeout(-1))
	require.Error(t, err)
}

func TestLogRecord(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	b := &fakeBackend{}
	c := newTestClient(t, b, WithLogger(logger))
	_, err := c.PushMixed(context.Background(), "qq", "g", "u", "secret title", []Item{
		{Type: TextItem, Text: "secret content"},
		{Type: ImageItem, Source: "base64://c2VjcmV0IGJ5dGVz"},
	})
	require.NoError(t, err)
	b.err = errors.New("boom")
	b.n = 0
	_, err = c.Push(context.Background(), "qq", "g", "", "", "x")
	require.Error(t, err)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, "one record per push")
	assert.Contains(t, lines[0], `"account":"bot"`)
	assert.Contains(t, lines[0], `"target":"group+user"`)
	assert.Contains(t, lines[0], `"items":["text","image"]`)
	assert.Contains(t, lines[0], `"sent":1`)
	assert.Contains(t, lines[1], `"error_class":"other"`)
	assert.NotContains(t, buf.String(), "secret")
	assert.NotContains(t, buf.String(), "c2VjcmV0")
}

func TestDefaultClient(t *testing.T) {
	// Not parallel: it replaces the package default.
	b := &fakeBackend{}
	c := newTestClient(t, b)
	old := Default()
	t.Cleanup(func() { SetDefault(old) })
	SetDefault(c)
	require.Same(t, c, Default())
	ctx := context.Background()
	for _, f := range []func() (int, error){
		func() (int, error) { return Push(ctx, "qq", "g", "", "", "x") },
		func() (int, error) { return PushImage(ctx, "qq", "g", "", "", "base64://aGk=") },
		func() (int, error) { return PushVoice(ctx, "qq", "g", "", "", "base64://aGk=") },
		func() (int, error) { return PushVideo(ctx, "qq", "g", "", "", "base64://aGk=") },
		func() (int, error) { return PushFile(ctx, "qq", "g", "", "", "base64://aGk=") },
		func() (int, error) { return PushMixed(ctx, "qq", "g", "", "", []Item{{Type: TextItem, Text: "x"}}) },
	} {
		n, err := f()
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	}
	assert.Equal(t, 6, b.calls())
	types := []ItemType{}
	for _, m := range b.msgs {
		types = append(types, m.Items[0].Type)
	}
	assert.Equal(t, []ItemType{TextItem, ImageItem, VoiceItem, VideoItem, FileItem, TextItem}, types)
	SetDefault(nil)
	require.NotSame(t, c, Default())
	_, err := Push(ctx, "qq", "g", "", "", "x")
	require.ErrorIs(t, err, ErrNoAccount)
}
