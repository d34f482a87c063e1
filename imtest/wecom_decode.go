package imtest

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// weComDecoder checks the fields of one msgtype and fills msg; a non-zero
// code is WeCom's answer to a body that breaks its doc.
type weComDecoder func(w *WeCom, b *weComBody, msg *WeComMessage) (int, string)

var weComDecoders = map[string]weComDecoder{
	"text":          decodeText,
	"markdown":      decodeMarkdown,
	"markdown_v2":   decodeMarkdownV2,
	"image":         decodeImage,
	"file":          decodeMediaRef,
	"voice":         decodeMediaRef,
	"miniprogram":   decodeMiniProgram,
	"news":          decodeNews,
	"template_card": decodeTemplateCard,
}

// decode checks the fields of b's msgtype and fills msg.
func (w *WeCom) decode(b *weComBody, msg *WeComMessage) (int, string) {
	d, ok := weComDecoders[b.MsgType]
	if !ok {
		return 40008, "invalid message type"
	}
	return d(w, b, msg)
}

func decodeText(_ *WeCom, b *weComBody, msg *WeComMessage) (int, string) {
	if b.Text == nil || b.Text.Content == "" {
		return 44004, "empty content"
	}
	if len(b.Text.Content) > 2048 {
		return 45002, "content size out of limit"
	}
	msg.Content, msg.Mentions, msg.MentionMobiles = b.Text.Content, b.Text.MentionedList, b.Text.MentionedMobileList
	return 0, ""
}

func decodeMarkdown(_ *WeCom, b *weComBody, msg *WeComMessage) (int, string) {
	if b.Markdown == nil || b.Markdown.Content == "" {
		return 44004, "empty content"
	}
	if len(b.Markdown.Content) > 4096 {
		return 40058, "markdown.content exceed max length 4096"
	}
	for _, a := range b.Markdown.Attachments {
		var at struct {
			Actions []map[string]any `json:"actions"`
		}
		if json.Unmarshal(a, &at) != nil {
			return 40058, "invalid attachments"
		}
		// "一个attachment中最多支持20个action"
		if len(at.Actions) > 20 {
			return 40058, "too many actions in an attachment"
		}
	}
	msg.Content = b.Markdown.Content
	return 0, ""
}

func decodeMarkdownV2(_ *WeCom, b *weComBody, msg *WeComMessage) (int, string) {
	if b.MarkdownV2 == nil || b.MarkdownV2.Content == "" {
		return 44004, "empty content"
	}
	if len(b.MarkdownV2.Content) > 4096 {
		return 40058, "markdown_v2.content exceed max length 4096"
	}
	msg.Content = b.MarkdownV2.Content
	return 0, ""
}

// decodeImage checks base64, the md5 of the raw bytes, 2 MB and JPG/PNG.
func decodeImage(_ *WeCom, b *weComBody, msg *WeComMessage) (int, string) {
	if b.Image == nil {
		return 40058, "missing image"
	}
	data, err := base64.StdEncoding.DecodeString(b.Image.Base64)
	if err != nil || len(data) == 0 {
		return 40058, "invalid base64"
	}
	sum := md5.Sum(data)
	if hex.EncodeToString(sum[:]) != strings.ToLower(b.Image.MD5) {
		return 301019, "media md5 not match"
	}
	if len(data) > 2<<20 {
		return 40009, "invalid image size"
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) && !bytes.HasPrefix(data, []byte("\xff\xd8\xff")) {
		return 40004, "invalid media type: only JPG and PNG"
	}
	msg.Image = data
	return 0, ""
}

// decodeMediaRef checks a file or voice message's media_id: uploaded, not
// older than three days, and for a voice, uploaded as one.
func decodeMediaRef(w *WeCom, b *weComBody, msg *WeComMessage) (int, string) {
	ref := b.File
	if b.MsgType == "voice" {
		ref = b.Voice
	}
	if ref == nil || ref.MediaID == "" {
		return 40058, "missing media_id"
	}
	m, ok := w.mediaByID(ref.MediaID)
	if !ok {
		return 40007, "invalid media_id"
	}
	if b.MsgType == "voice" && m.typ != "voice" {
		return 40007, "invalid media_id: not a voice upload"
	}
	msg.FileName, msg.File = m.name, m.data
	return 0, ""
}

// mediaByID returns an upload younger than three days.
func (w *WeCom) mediaByID(id string) (weComMedia, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m, ok := w.media[id]
	if !ok || w.now().Sub(m.at) >= 72*time.Hour {
		return weComMedia{}, false
	}
	return m, true
}

// decodeMiniProgram checks title (at most 64 bytes), pic_media_id, appid
// and page, all required.
func decodeMiniProgram(w *WeCom, b *weComBody, msg *WeComMessage) (int, string) {
	mp := b.MiniProgram
	switch {
	case mp == nil || mp.Title == "" || mp.PicMediaID == "" || mp.AppID == "" || mp.Page == "":
		return 40058, "miniprogram needs title, pic_media_id, appid and page"
	case len(mp.Title) > 64:
		return 40058, "miniprogram.title exceed max length 64"
	}
	m, ok := w.mediaByID(mp.PicMediaID)
	if !ok {
		return 40007, "invalid media_id"
	}
	msg.Content, msg.FileName, msg.File = mp.Title, m.name, m.data
	return 0, ""
}

// decodeNews checks 1 to 8 articles, each with title and url, and no null.
func decodeNews(_ *WeCom, b *weComBody, _ *WeComMessage) (int, string) {
	if b.News == nil || len(b.News.Articles) == 0 || len(b.News.Articles) > 8 {
		return 45008, "invalid articles count"
	}
	for _, a := range b.News.Articles {
		for k, v := range a {
			if v == nil {
				return 40058, "invalid parameter: null " + k
			}
		}
		if a["title"] == nil || a["url"] == nil {
			return 40058, "title and url are required"
		}
	}
	return 0, ""
}

// decodeTemplateCard checks the card type and the required card_action.
func decodeTemplateCard(_ *WeCom, b *weComBody, _ *WeComMessage) (int, string) {
	ct, _ := b.TemplateCard["card_type"].(string)
	if ct != "text_notice" && ct != "news_notice" {
		return 40058, "invalid card_type"
	}
	if b.TemplateCard["card_action"] == nil {
		return 40058, "card_action is required"
	}
	return 0, ""
}
