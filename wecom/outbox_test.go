package wecom

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/testkit"
)

var extrasOf = testkit.ExtrasOf

// TestOptionCodecRoundTrip: every option survives EncodeOptions and
// DecodeOptions, in the state the last one left.
func TestOptionCodecRoundTrip(t *testing.T) {
	c, _ := newBackend(t, newMock(t))
	var extras []any
	for _, o := range []middleware.Option{
		MarkdownV2(), Markdown(), NoSplit(), Mention("a", "b"), MentionMobile("138"), MentionAll(), VisibleTo("v"),
		PostID("p"), AtShortName(), TitleAsHeading(),
		Buttons(Attachment{CallbackID: "cb", Actions: []Action{{Name: "n", Text: "ok", Type: "button", Value: "1"}}}),
	} {
		extras = append(extras, extrasOf(o)...)
	}
	want := OptionsOf(&middleware.Message{Extras: extras})
	require.Equal(t, "markdown", want.Format)
	data, err := c.EncodeOptions(extras)
	require.NoError(t, err)
	back, err := c.DecodeOptions(data)
	require.NoError(t, err)
	assert.Equal(t, want, OptionsOf(&middleware.Message{Extras: extrasOf(back)}))

	none, err := c.EncodeOptions(nil)
	require.NoError(t, err)
	assert.Nil(t, none)
	_, err = c.DecodeOptions([]byte(`{"Format":"text","Colour":"red"}`))
	assert.ErrorContains(t, err, "Colour")
}

// TestMessagesCountsWhatPlanSends: the Outbox merges text only while it
// still fits one message.
func TestMessagesCountsWhatPlanSends(t *testing.T) {
	c, _ := newBackend(t, newMock(t))
	for _, tc := range []struct {
		text   string
		extras []any
		want   int
	}{
		{strings.Repeat("x", TextLimit), nil, 1},
		{strings.Repeat("x", TextLimit+1), nil, 2},
		{strings.Repeat("x", TextLimit+1), extrasOf(Markdown()), 1},
		{strings.Repeat("x\n\n", MarkdownLimit/3+1), extrasOf(Markdown()), 2},
	} {
		n, err := c.Messages(&middleware.Message{GroupCode: "c", Extras: tc.extras, Items: []middleware.Item{{Type: middleware.TextItem, Text: tc.text}}})
		require.NoError(t, err)
		assert.Equal(t, tc.want, n, "%d bytes", len(tc.text))
	}
	_, err := c.Messages(&middleware.Message{GroupCode: "c", Extras: extrasOf(NoSplit()), Items: []middleware.Item{{Type: middleware.TextItem, Text: strings.Repeat("x", TextLimit+1)}}})
	assert.ErrorIs(t, err, middleware.ErrTooLarge)
}

// TestEveryOptionIsStored: each option on its own survives the outbox's
// codec; an option added without it fails here.
func TestEveryOptionIsStored(t *testing.T) {
	c, _ := newBackend(t, newMock(t))
	testkit.OptionsStored(t, c, map[string]middleware.Option{
		"Markdown": Markdown(), "MarkdownV2": MarkdownV2(), "NoSplit": NoSplit(), "Mention": Mention("a", "b"),
		"MentionMobile": MentionMobile("138"), "MentionAll": MentionAll(), "VisibleTo": VisibleTo("v"), "PostID": PostID("p"),
		"Buttons":     Buttons(Attachment{CallbackID: "cb", Actions: []Action{{Name: "n", Text: "ok", Type: "button", Value: "1"}}}),
		"AtShortName": AtShortName(), "TitleAsHeading": TitleAsHeading(), "SpreadOverWindows": SpreadOverWindows(),
	}, func(x []any) any { return readOpts(x) })
}
