package timchat

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/testkit"
)

// dedupFields reads the dedup fields of a request body.
func dedupFields(t *testing.T, body []byte) [3]uint32 {
	var v struct{ MsgRandom, MsgSeq, Random uint32 }
	require.NoError(t, json.Unmarshal(body, &v))
	return [3]uint32{v.MsgRandom, v.MsgSeq, v.Random}
}

// TestIdempotencyKeyFixesTheDedupFields: one key gives the same MsgRandom,
// MsgSeq and Random on every send, per target; no key gives fresh ones.
func TestIdempotencyKeyFixesTheDedupFields(t *testing.T) {
	m := newMock(t)
	_, mc := newBackend(t, m)
	ctx := context.Background()
	targets := [][2]string{{"", "u1"}, {"g1", ""}, {"", "u1|u2"}}
	send := func(opts ...middleware.Option) [][3]uint32 {
		start := len(m.requests())
		for _, tg := range targets {
			_, err := mc.Push(ctx, IM, tg[0], tg[1], "", "hello", opts...)
			require.NoError(t, err)
		}
		var out [][3]uint32
		for _, r := range m.requests()[start:] {
			out = append(out, dedupFields(t, r.Body))
		}
		return out
	}
	a, b := send(middleware.WithIdempotencyKey(42)), send(middleware.WithIdempotencyKey(42))
	assert.Equal(t, a, b, "same key, same fields")
	assert.NotZero(t, a[0][0])
	assert.NotEqual(t, a[0][0], a[2][0], "targets get their own")
	assert.NotZero(t, a[1][2], "a group message's Random")
	assert.NotEqual(t, a, send(middleware.WithIdempotencyKey(43)))
	assert.NotEqual(t, send(), send(), "no key: fresh every push")

	_, err := mc.Push(ctx, IM, "", "u1", "", "x", middleware.WithIdempotencyKey(0))
	assert.ErrorIs(t, err, middleware.ErrInvalidOption)
}

// TestSplitMixedPartsGetTheirOwnFields: the messages of one push must not
// be dropped as repeats of each other.
func TestSplitMixedPartsGetTheirOwnFields(t *testing.T) {
	m := newMock(t)
	mediaResponders(t, m)
	c, _ := newBackend(t, m)
	mc, _ := middleware.NewClient(middleware.WithHTTPClient(&http.Client{Transport: m.mt}),
		middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Backend: c}))
	_, err := mc.PushMixed(context.Background(), IM, "g1", "", "", []middleware.Item{
		{Type: middleware.TextItem, Text: "a"}, {Type: middleware.ImageItem, Source: "https://media.example/chart.png"},
		{Type: middleware.TextItem, Text: "b"}, {Type: middleware.FileItem, Source: "https://media.example/daily.csv"},
	}, SplitMixed(), middleware.WithIdempotencyKey(7))
	require.NoError(t, err)
	reqs := m.requests()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, dedupFields(t, reqs[0].Body), dedupFields(t, reqs[1].Body))
}

// TestOptionCodecRoundTrip: every option survives EncodeOptions and
// DecodeOptions.
func TestOptionCodecRoundTrip(t *testing.T) {
	c, _ := newBackend(t, newMock(t))
	life := 3 * time.Hour
	opts := []middleware.Option{
		Broadcast(&Condition{TagsOr: []string{"vip"}}), Thumbnail("https://cdn.example.com/t.png"), SplitMixed(),
		OnlineOnly(), OfflinePush(OfflinePushInfo{Title: "T", Desc: "D"}), CloudCustomData("cd"), MsgLifeTime(life),
		FromAccount("bot"), VoiceSeconds(3), VideoSeconds(9),
	}
	var extras []any
	for _, o := range opts {
		extras = append(extras, extrasOf(o)...)
	}
	want := OptionsOf(&middleware.Message{Extras: extras})
	data, err := c.EncodeOptions(extras)
	require.NoError(t, err)
	back, err := c.DecodeOptions(data)
	require.NoError(t, err)
	assert.Equal(t, want, OptionsOf(&middleware.Message{Extras: extrasOf(back)}))

	none, err := c.EncodeOptions([]any{"another backend's"})
	require.NoError(t, err)
	assert.Nil(t, none, "no options of this backend: nothing stored")
	_, err = c.DecodeOptions([]byte(`{"Broadcast":true,"Unknown":1}`))
	assert.ErrorContains(t, err, "Unknown")
}

var extrasOf = testkit.ExtrasOf

// TestPlanningForTheOutbox: Messages counts one message per target (one per
// media item with SplitMixed) and refuses text over BodyLimit;
// DedupWindow follows the target.
func TestPlanningForTheOutbox(t *testing.T) {
	c, _ := newBackend(t, newMock(t))
	text := func(s string) []middleware.Item { return []middleware.Item{{Type: middleware.TextItem, Text: s}} }
	n, err := c.Messages(&middleware.Message{UserID: "u", Items: text("hi")})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = c.Messages(&middleware.Message{UserID: "u", Items: text(strings.Repeat("x", BodyLimit+1))})
	assert.ErrorIs(t, err, middleware.ErrTooLarge)
	split := extrasOf(SplitMixed())
	n, err = c.Messages(&middleware.Message{UserID: "u", Extras: split, Items: []middleware.Item{
		{Type: middleware.TextItem, Text: "a"}, {Type: middleware.ImageItem, Source: "https://cdn.example.com/a.png"},
		{Type: middleware.TextItem, Text: "tail"},
	}})
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	assert.Equal(t, C2CDedupWindow, c.DedupWindow(&middleware.Message{UserID: "u"}))
	assert.Equal(t, GroupDedupWindow, c.DedupWindow(&middleware.Message{GroupCode: "g", UserID: "u"}))
	assert.Zero(t, c.DedupWindow(&middleware.Message{Extras: extrasOf(Broadcast(nil))}))
}

// TestEveryOptionIsStored: each option on its own survives the outbox's
// codec; an option added without it fails here.
func TestEveryOptionIsStored(t *testing.T) {
	c, _ := newBackend(t, newMock(t))
	testkit.OptionsStored(t, c, map[string]middleware.Option{
		"Broadcast": Broadcast(&Condition{TagsOr: []string{"vip"}}), "Thumbnail": Thumbnail("https://cdn.example.com/t.png"),
		"SplitMixed": SplitMixed(), "OnlineOnly": OnlineOnly(), "OfflinePush": OfflinePush(OfflinePushInfo{Title: "T", Desc: "D"}),
		"CloudCustomData": CloudCustomData("cd"), "MsgLifeTime": MsgLifeTime(3 * time.Hour), "FromAccount": FromAccount("bot"),
		"VoiceSeconds": VoiceSeconds(3), "VideoSeconds": VideoSeconds(9),
	}, func(x []any) any { return readOpts(x) })
}
