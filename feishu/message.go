package feishu

import "encoding/json"

// envelope is a Feishu webhook body: msg_type with content, or a card; the
// signature, when the bot has one, at the top level.
type envelope struct {
	Timestamp string          `json:"timestamp,omitempty"`
	Sign      string          `json:"sign,omitempty"`
	MsgType   string          `json:"msg_type"`
	Content   *content        `json:"content,omitempty"`
	Card      json.RawMessage `json:"card,omitempty"`
}

type content struct {
	Text        string                  `json:"text,omitempty"`
	ImageKey    string                  `json:"image_key,omitempty"`
	ShareChatID string                  `json:"share_chat_id,omitempty"`
	Post        map[string]postLanguage `json:"post,omitempty"`
}

type postLanguage struct {
	Title   string  `json:"title,omitempty"`
	Content [][]tag `json:"content"`
}

// tag is one element of a post paragraph: text, a (link), at or img.
type tag struct {
	Tag      string `json:"tag"`
	Text     string `json:"text,omitempty"`
	Href     string `json:"href,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	ImageKey string `json:"image_key,omitempty"`
}

// markdownCard is the interactive card of Markdown(): an optional header
// and one div of lark_md.
type markdownCard struct {
	Config   cardConfig  `json:"config"`
	Header   *cardHeader `json:"header,omitempty"`
	Elements []cardDiv   `json:"elements"`
}

type cardConfig struct {
	WideScreenMode bool `json:"wide_screen_mode"`
}

type cardHeader struct {
	Title cardText `json:"title"`
}

type cardDiv struct {
	Tag  string   `json:"tag"`
	Text cardText `json:"text"`
}

type cardText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}
