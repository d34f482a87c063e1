package dingtalk

import (
	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/extras"
)

// Options is what this backend's options asked for in a Message, as plain
// values. It is the one record of them: the options set it, Send reads
// it, an Outbox stores it as it is (EncodeOptions), and tests of bot code
// read it back with OptionsOf.
type Options struct {
	// Markdown sends text as a markdown message (Markdown). A push with an
	// image, or a PushMixed, is always markdown.
	Markdown bool `json:",omitempty"`
	// Link makes a Push a link message (Link).
	Link *LinkTarget `json:",omitempty"`
	// Buttons make a Push an actionCard (ActionCard); ButtonsHorizontal
	// and HideAvatar are its layout.
	Buttons           []Button `json:",omitempty"`
	ButtonsHorizontal bool     `json:",omitempty"`
	HideAvatar        bool     `json:",omitempty"`
	// FeedCard makes a Push a feedCard of these links (FeedCard).
	FeedCard []FeedLink `json:",omitempty"`
	// MentionMobiles, MentionUsers and MentionAll are the mentions
	// (MentionMobile, MentionUser, MentionAll); a push's userID argument
	// adds to MentionUsers.
	MentionMobiles []string `json:",omitempty"`
	MentionUsers   []string `json:",omitempty"`
	MentionAll     bool     `json:",omitempty"`
	// NoSplit refuses a text over the body limit instead of splitting it.
	NoSplit bool `json:",omitempty"`
}

// LinkTarget is what a link message opens, and its optional picture.
type LinkTarget struct {
	MessageURL string
	PicURL     string `json:",omitempty"`
}

// Button is one button of an actionCard: its label and the URL it opens.
type Button struct {
	Title string
	URL   string
}

// FeedLink is one entry of a feedCard: all three fields are required.
type FeedLink struct {
	Title      string
	MessageURL string
	PicURL     string
}

func readOpts(x []any) Options { return extras.Read[Options](x) }

func option(set func(*Options)) middleware.Option { return extras.Option(set) }

// Markdown sends a Push as a markdown message: the helper's title is its
// title in the conversation list (DingTalk shows no title in the message;
// without one, the text's first line is used), the content its text.
// Default: Push sends a text message; pushes with images and PushMixed
// send markdown.
func Markdown() middleware.Option { return option(func(o *Options) { o.Markdown = true }) }

// Link sends a Push as a link message: the helper's title (required) and
// content as title and text, opening messageURL, with the picture at
// picURL ("" for none). URLs are http(s) or dingtalk://.
func Link(messageURL, picURL string) middleware.Option {
	return option(func(o *Options) { o.Link = &LinkTarget{MessageURL: messageURL, PicURL: picURL} })
}

// ActionCard sends a Push as an actionCard: the helper's title (required)
// and content (markdown) above the buttons. One button is DingTalk's
// single-button card (singleTitle, singleURL); several are its btns.
func ActionCard(buttons ...Button) middleware.Option {
	b := append([]Button(nil), buttons...)
	return option(func(o *Options) { o.Buttons = b })
}

// ButtonsHorizontal lays an actionCard's buttons side by side. Default:
// stacked.
func ButtonsHorizontal() middleware.Option {
	return option(func(o *Options) { o.ButtonsHorizontal = true })
}

// HideAvatar hides the robot's avatar on an actionCard. Default: shown.
func HideAvatar() middleware.Option { return option(func(o *Options) { o.HideAvatar = true }) }

// FeedCard sends a Push as a feedCard of links. A feedCard shows no text:
// give the push a title (it names the push in logs) and no content.
func FeedCard(links ...FeedLink) middleware.Option {
	l := append([]FeedLink(nil), links...)
	return option(func(o *Options) { o.FeedCard = l })
}

// MentionMobile mentions group members by mobile number. DingTalk
// notifies them only when the text names them too, so "@mobile" is added
// to the end of the text (text and markdown messages only).
func MentionMobile(mobiles ...string) middleware.Option {
	m := append([]string(nil), mobiles...)
	return option(func(o *Options) { o.MentionMobiles = m })
}

// MentionUser mentions group members by DingTalk user id (atUserIds), with
// "@userid" added to the text as for mobiles. A push's userID argument
// mentions its users the same way.
func MentionUser(userIDs ...string) middleware.Option {
	u := append([]string(nil), userIDs...)
	return option(func(o *Options) { o.MentionUsers = u })
}

// MentionAll mentions everyone in the group (isAtAll).
func MentionAll() middleware.Option { return option(func(o *Options) { o.MentionAll = true }) }

// NoSplit makes a text whose body is over BodyLimit fail with
// middleware.ErrTooLarge before anything is sent, instead of going out as
// several messages. Default: split.
func NoSplit() middleware.Option { return option(func(o *Options) { o.NoSplit = true }) }

// OptionsOf reads back the dingtalk options of m, such as a message
// recorded by imtest.Recorder. Options of other backends are ignored.
func OptionsOf(m *middleware.Message) Options { return readOpts(m.Extras) }
