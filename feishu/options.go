package feishu

import (
	"encoding/json"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/extras"
)

// Options is what this backend's options asked for in a Message, as plain
// values. It is the one record of them: the options set it, Send reads
// it, an Outbox stores it as it is (EncodeOptions), and tests of bot code
// read it back with OptionsOf.
type Options struct {
	// Post sends a Push as rich text (Post); Markdown as a card of
	// lark_md (Markdown).
	Post     bool `json:",omitempty"`
	Markdown bool `json:",omitempty"`
	// Card is an interactive card to send as it is (Card).
	Card json.RawMessage `json:",omitempty"`
	// ShareChat is the chat id of a share_chat message (ShareChat).
	ShareChat string `json:",omitempty"`
	// Language is the post's language key; "" is zh_cn (Language).
	Language string `json:",omitempty"`
	// Mentions are open_ids to mention (Mention); a push's userID adds to
	// them. MentionAll mentions everyone.
	Mentions   []string `json:",omitempty"`
	MentionAll bool     `json:",omitempty"`
	// NoSplit refuses a message over BodyLimit instead of splitting it.
	NoSplit bool `json:",omitempty"`
}

func readOpts(x []any) Options { return extras.Read[Options](x) }

func option(set func(*Options)) middleware.Option { return extras.Option(set) }

// Post sends a Push as a rich-text post: the helper's title as the post's
// title, each line of the content a paragraph. PushMixed, and a media push
// with a caption, always send posts. Default: Push sends a text message.
func Post() middleware.Option { return option(func(o *Options) { o.Post = true }) }

// Markdown sends a Push as an interactive card whose body is the content
// as lark_md (Feishu's markdown), under a header of the helper's title.
func Markdown() middleware.Option { return option(func(o *Options) { o.Markdown = true }) }

// Card sends a Push as an interactive card: card is the card object
// (config, header, elements) as Feishu's card builder exports it. A card
// carries its own text: give the push a title (it names the push in logs)
// and no content.
func Card(card json.RawMessage) middleware.Option {
	c := append(json.RawMessage(nil), card...)
	return option(func(o *Options) { o.Card = c })
}

// ShareChat sends a Push as a share_chat message: a card of the group
// chatID (oc_…). Give the push a title and no content.
func ShareChat(chatID string) middleware.Option {
	return option(func(o *Options) { o.ShareChat = chatID })
}

// Language sets the language key of a post (zh_cn, en_us, ja_jp).
// Default: zh_cn.
func Language(key string) middleware.Option { return option(func(o *Options) { o.Language = key }) }

// Mention mentions users by open_id (ou_…): Feishu notifies no one named
// by email, mobile or user_id. In text it is <at user_id="ou_…"></at>, in a
// post an at tag, in a markdown card <at id=ou_…></at>.
func Mention(openIDs ...string) middleware.Option {
	ids := append([]string(nil), openIDs...)
	return option(func(o *Options) { o.Mentions = ids })
}

// MentionAll mentions everyone in the group; the group must allow the bot
// to.
func MentionAll() middleware.Option { return option(func(o *Options) { o.MentionAll = true }) }

// NoSplit makes a message whose body is over BodyLimit fail with
// middleware.ErrTooLarge before anything is sent, instead of going out as
// several messages. Default: split.
func NoSplit() middleware.Option { return option(func(o *Options) { o.NoSplit = true }) }

// OptionsOf reads back the feishu options of m, such as a message recorded
// by imtest.Recorder. Options of other backends are ignored.
func OptionsOf(m *middleware.Message) Options { return readOpts(m.Extras) }
