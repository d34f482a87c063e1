package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Spellings of one autClaw option are decided by a fixed precedence, not by
// the map's order. Run many times: map order is random on every range.
func TestWithOptionsPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m                  map[string]any
		account, file, mim string
	}{
		{map[string]any{"account_id": "a", "accountID": "b", "accountId": "c"}, "a", "", ""},
		{map[string]any{"accountID": "b", "accountId": "c"}, "b", "", ""},
		{map[string]any{"accountId": "c"}, "c", "", ""},
		{map[string]any{"filename": "a", "fileName": "b", "file_name": "c"}, "", "a", ""},
		{map[string]any{"fileName": "b", "file_name": "c"}, "", "b", ""},
		{map[string]any{"mimeType": "a", "mime_type": "b"}, "", "", "a"},
		{map[string]any{"mime_type": "b", "accountId": "c", "file_name": "c"}, "c", "c", "b"},
	}
	for range 200 {
		for _, tt := range tests {
			cfg := newCallConfig([]Option{WithOptions(tt.m)})
			require.NoError(t, cfg.err)
			assert.Equal(t, tt.account, cfg.AccountID, "%v", tt.m)
			assert.Equal(t, tt.file, cfg.Filename, "%v", tt.m)
			assert.Equal(t, tt.mim, cfg.MIME, "%v", tt.m)
			assert.Empty(t, cfg.Fields, "reserved keys are not body fields")
		}
	}
}

func TestWithOptionsRefusesNearMisses(t *testing.T) {
	t.Parallel()
	for key, accepted := range map[string]string{
		"accountid": "account_id, accountID, accountId", "Account_ID": "account_id, accountID, accountId",
		"FILENAME": "filename, fileName, file_name", "MimeType": "mimeType, mime_type", "mime__type": "mimeType, mime_type",
	} {
		cfg := newCallConfig([]Option{WithOptions(map[string]any{key: "x"})})
		require.ErrorIs(t, cfg.err, ErrInvalidOption, key)
		assert.Contains(t, cfg.err.Error(), accepted, key)
		assert.Contains(t, cfg.err.Error(), key)
	}
	cfg := newCallConfig([]Option{WithOptions(map[string]any{"safe": 1, "chatid": "x"})})
	require.NoError(t, cfg.err)
	assert.Equal(t, map[string]any{"safe": 1, "chatid": "x"}, cfg.Fields, "everything else is a body field")
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	_, ok := RetryAfter(errors.New("x"))
	assert.False(t, ok)
	_, ok = RetryAfter(&APIError{Backend: "wecom", Code: 93000})
	assert.False(t, ok)
	d, ok := RetryAfter(prefix(&call{helper: "push", imType: "wecom", account: "ops"}, &APIError{Backend: "wecom", Code: 45009, Kind: ErrRateLimited, RetryAfter: time.Minute}))
	assert.True(t, ok)
	assert.Equal(t, time.Minute, d)
	le := &LimitError{Backend: "tim", Reason: "spacing", RetryAfter: 700 * time.Millisecond}
	d, ok = RetryAfter(prefix(&call{helper: "push", imType: "tim"}, le))
	assert.True(t, ok)
	assert.Equal(t, 700*time.Millisecond, d)
	assert.ErrorIs(t, le, ErrRateLimited)
	var api *APIError
	assert.False(t, errors.As(le, &api), "a client-side refusal is not an answer of the platform")
	assert.Equal(t, "tim: rate limited by the client: spacing (retry after 700ms)", le.Error())
}

// A cancelled context keeps its error reachable and is named like every
// other failure.
func TestContextErrorsArePrefixed(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{send: func(ctx context.Context, _ *Message) (int, error) { return 0, ctx.Err() }}
	c, err := NewClient(WithAccount(Account{ID: "ops", IM: "x", Default: true, Backend: f}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Push(ctx, "x", "g", "", "", "hi")
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, strings.HasPrefix(err.Error(), "middleware: push to x as ops: "), err.Error())

	_, err = c.Push(context.Background(), "x", "g", "", "", "hi", WithTimeout(-time.Second))
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.True(t, strings.HasPrefix(err.Error(), "middleware: push to x: "), err.Error())
}

func TestParseItems(t *testing.T) {
	t.Parallel()
	items, err := ParseItemsJSON([]byte(`[
		{"type": "text", "text": "Result:"},
		{"type": "image", "url": "https://cdn.example.com/a.png", "caption": "chart"},
		{"type": "file", "path": "./daily.csv", "file_name": "日报.csv", "mime_type": "text/csv"},
		{"type": "video", "source": "https://cdn.example.com/v.mp4", "cover": "https://cdn.example.com/v.jpg", "mimeType": "video/mp4", "name": "v.mp4"},
		{"type": "voice", "file": "base64://IyFBTVIK"}
	]`))
	require.NoError(t, err)
	assert.Equal(t, []Item{
		{Type: TextItem, Text: "Result:"},
		{Type: ImageItem, Source: "https://cdn.example.com/a.png", Caption: "chart"},
		{Type: FileItem, Source: "./daily.csv", Name: "日报.csv", MIME: "text/csv"},
		{Type: VideoItem, Source: "https://cdn.example.com/v.mp4", Cover: "https://cdn.example.com/v.jpg", MIME: "video/mp4", Name: "v.mp4"},
		{Type: VoiceItem, Source: "base64://IyFBTVIK"},
	}, items)

	for _, tt := range []struct {
		json, want string
	}{
		{`[{"type": "sticker", "source": "x"}]`, "item 0: unknown type"},
		{`[{"type": "text", "text": "a"}, {"type": "image", "src": "x"}]`, `item 1: unknown key "src"`},
		{`[{"type": "image", "url": "a", "path": "b"}]`, "url and path name the same thing"},
		{`[{"type": "text", "text": 7}]`, `"text" must be a string`},
		{`[{"text": "a"}]`, `no "type"`},
		{`{"type": "text"}`, "items JSON"},
		{`[] []`, "more than one value"},
	} {
		_, err := ParseItemsJSON([]byte(tt.json))
		require.ErrorIs(t, err, ErrInvalidItem, tt.json)
		assert.Contains(t, err.Error(), tt.want, tt.json)
	}
}

func TestCaptionAndCoverAreChecked(t *testing.T) {
	t.Parallel()
	c, f := newFakeClient(t, WithDefaultSourcePolicy(UntrustedSources))
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		items []Item
	}{
		{"caption on text", []Item{{Type: TextItem, Text: "a", Caption: "b"}}},
		{"cover on an image", []Item{{Type: ImageItem, Data: pngBytes, Cover: "base64://aGVsbG8="}}},
		{"caption not UTF-8", []Item{{Type: ImageItem, Data: pngBytes, Caption: "\xff"}}},
		{"cover refused by the policy", []Item{{Type: VideoItem, Source: "https://cdn.example.com/v.mp4", Cover: "/etc/hostname"}}},
		{"cover unreadable", []Item{{Type: VideoItem, Source: "https://cdn.example.com/v.mp4", Cover: "base64://%%%"}}},
	} {
		_, err := c.PushMixed(ctx, "x", "g", "", "", tt.items)
		require.ErrorIs(t, err, ErrInvalidItem, tt.name)
	}
	assert.Zero(t, f.calls())
}
