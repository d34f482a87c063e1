package wecom

import (
	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/extras"
)

// Message formats of Push and of joined text in PushMixed.
const (
	formatText       = "text"
	formatMarkdown   = "markdown"
	formatMarkdownV2 = "markdown_v2"
)

// readOpts gathers this backend's options from Message.Extras.
func readOpts(x []any) Options { return extras.Read[Options](x) }

func backendOpt(set func(*Options)) middleware.Option { return extras.Option(set) }

// Markdown sends text as a markdown message (4096 bytes, split on block
// boundaries when longer). Mentions become <@userid> in the content.
// Default: Push sends a text message; PushMixed joins text into markdown.
func Markdown() middleware.Option {
	return backendOpt(func(o *Options) { o.Format = formatMarkdown })
}

// MarkdownV2 sends text as markdown_v2 (tables, lists, code; no colours and
// no mentions, so a mention with it is ErrUnsupported).
func MarkdownV2() middleware.Option {
	return backendOpt(func(o *Options) { o.Format = formatMarkdownV2 })
}

// NoSplit makes text over the limit fail with ErrTooLarge, before anything
// is sent, instead of being split into several messages. Default: split.
func NoSplit() middleware.Option {
	return backendOpt(func(o *Options) { o.NoSplit = true })
}

// Mention mentions the users (WeCom userids): mentioned_list in text,
// <@userid> in markdown. Default: none; with both groupCode and userID the
// users of userID are mentioned.
func Mention(userids ...string) middleware.Option {
	ids := append([]string(nil), userids...)
	return backendOpt(func(o *Options) { o.Mentions = ids })
}

// MentionMobile mentions users by mobile number (text messages only).
func MentionMobile(mobiles ...string) middleware.Option {
	m := append([]string(nil), mobiles...)
	return backendOpt(func(o *Options) { o.MentionMobiles = m })
}

// MentionAll mentions everyone in the group (text messages only).
func MentionAll() middleware.Option {
	return backendOpt(func(o *Options) { o.MentionAll = true })
}

// VisibleTo shows the message only to these group members. WeCom honours
// it only when chatid names exactly one group.
func VisibleTo(userids ...string) middleware.Option {
	ids := append([]string(nil), userids...)
	return backendOpt(func(o *Options) { o.VisibleTo = ids })
}

// PostID posts into a blackboard post; the chatid must be exactly one
// blackboard.
func PostID(id string) middleware.Option {
	return backendOpt(func(o *Options) { o.PostID = id })
}

// Buttons adds button attachments to a markdown message (implies
// Markdown).
func Buttons(a ...Attachment) middleware.Option {
	cp := append([]Attachment(nil), a...)
	return backendOpt(func(o *Options) {
		o.Buttons = cp
		if o.Format == "" || o.Format == formatText {
			o.Format = formatMarkdown
		}
	})
}

// AtShortName asks WeCom to show mentions in markdown by short name.
func AtShortName() middleware.Option {
	return backendOpt(func(o *Options) { o.AtShortName = true })
}

// TitleAsHeading shows the helper's title, which WeCom has no field for,
// as the first heading ("# title") of a markdown or markdown_v2 push. With
// a plain text message it is middleware.ErrInvalidOption. Default: the
// title is not shown (it names the push in logs only).
func TitleAsHeading() middleware.Option {
	return backendOpt(func(o *Options) { o.TitleAsHeading = true })
}

// Options is what this backend's options ask for, as plain values: the
// options set its fields, Send reads them, an outbox stores them as they
// are (their JSON is the stored form: add fields, never rename them), and
// tests of bot code read them back with OptionsOf.
type Options struct {
	// Format is "text", "markdown" or "markdown_v2"; "" when no option
	// chose one (Push sends text, PushMixed joins text into markdown).
	Format string `json:",omitempty"`
	// Mentions, MentionMobiles and MentionAll are the mention options.
	Mentions       []string `json:",omitempty"`
	MentionMobiles []string `json:",omitempty"`
	MentionAll     bool     `json:",omitempty"`
	// VisibleTo and PostID are the targeting options.
	VisibleTo []string `json:",omitempty"`
	PostID    string   `json:",omitempty"`
	// NoSplit, AtShortName and TitleAsHeading are set by their options.
	NoSplit        bool `json:",omitempty"`
	AtShortName    bool `json:",omitempty"`
	TitleAsHeading bool `json:",omitempty"`
	// Buttons are the markdown attachments.
	Buttons []Attachment `json:",omitempty"`
	// Spread is set by SpreadOverWindows.
	Spread bool `json:",omitempty"`
}

// SpreadOverWindows lets a push that takes more messages than one window
// of the budget allows go message by message, over several windows,
// instead of being refused with ErrInvalidItem. It may then stop part-way
// when another sender spends the budget: the *middleware.PartialError
// says how far it got, and its Resume sends the rest. Default: a push
// books all its messages before the first leaves, and one that cannot fit
// a window is refused before anything is sent.
func SpreadOverWindows() middleware.Option {
	return backendOpt(func(o *Options) { o.Spread = true })
}

// OptionsOf reads back the wecom options of m, such as a message recorded
// by imtest.Recorder, so that a test can check that Markdown() or
// Mention("x") was asked for. Options of other backends are ignored.
func OptionsOf(m *middleware.Message) Options { return readOpts(m.Extras) }
