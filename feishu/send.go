package feishu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/hook"
	"github.com/imbridge/middleware/internal/jsonx"
	"github.com/imbridge/middleware/internal/textsplit"
)

// BodyLimit is the largest request body sent to a webhook, in bytes:
// Feishu says "20 KB" without saying whether it means 20 000 or 20 480, so
// the smaller. Texts are split so that each message's encoded body fits.
const BodyLimit = 20000

// Placeholders as long as what replaces them at send time, so that a plan
// made before the upload and the signature sizes bodies exactly.
var (
	keyPlaceholder  = strings.Repeat("k", 72)                           // an image_key: img_v3_ and a uuid-like id
	signPlaceholder = strings.Repeat("s", 44)                           // Base64 of 32 bytes
	tsPlaceholder   = strconv.FormatInt(1<<33, 10)                      // ten digits, until 2242
	allMention      = `<at user_id="all">所有人</at>`                      // text mention of everyone
	cardAllMention  = `<at id=all></at>`                                // lark_md mention of everyone
	defaultLanguage = "zh_cn"                                           // a post's language key
	cardKinds       = []string{"Post", "Markdown", "Card", "ShareChat"} // option names, for errors
)

// part is one Feishu message of a push.
type part struct {
	env    envelope
	images []int // items whose image_keys the message carries, in order
	last   bool
}

// Validate checks msg against Feishu's rules and limits without I/O, so
// that nothing of a bad push is sent.
func (c *Client) Validate(msg *middleware.Message) error {
	parts, err := c.plan(msg)
	if err != nil {
		return err
	}
	return hook.CheckParts(IM, c.budgets, len(parts), msg.Resume)
}

// plan validates msg and lays out its messages.
func (c *Client) plan(msg *middleware.Message) ([]part, error) {
	o := readOpts(msg.Extras)
	if msg.GroupCode != "" {
		return nil, fmt.Errorf("%w: feishu: a custom bot posts only into the group it was added to: leave groupCode empty", middleware.ErrInvalidTarget)
	}
	if len(msg.Items) == 0 {
		return nil, fmt.Errorf("%w: feishu: no items", middleware.ErrInvalidItem)
	}
	mentions := append(append([]string(nil), o.Mentions...), msg.Users()...)
	hasMention := len(mentions) > 0 || o.MentionAll
	kind, err := kindOf(msg, &o, hasMention)
	if err != nil {
		return nil, err
	}
	if err := c.checkMedia(msg); err != nil {
		return nil, err
	}
	p := planner{c: c, msg: msg, o: &o, mentions: mentions}
	switch kind {
	case "card", "share_chat":
		return p.whole(kind)
	case "image":
		return p.whole(kind)
	case "markdown":
		return p.markdown()
	case "post":
		return p.post()
	}
	return p.text()
}

// kindOf decides the message type of msg and refuses options that do not
// fit it.
func kindOf(msg *middleware.Message, o *Options, hasMention bool) (string, error) {
	var asked []string
	for i, on := range []bool{o.Post, o.Markdown, o.Card != nil, o.ShareChat != ""} {
		if on {
			asked = append(asked, cardKinds[i])
		}
	}
	if len(asked) > 1 {
		return "", fmt.Errorf("%w: feishu: %s are message types of their own: give one", middleware.ErrInvalidOption, strings.Join(asked, " and "))
	}
	oneText := len(msg.Items) == 1 && msg.Items[0].Type == middleware.TextItem
	oneImage := len(msg.Items) == 1 && msg.Items[0].Type == middleware.ImageItem && msg.Items[0].Caption == ""
	kind := "post"
	switch {
	case o.Card != nil || o.ShareChat != "":
		kind = "card"
		if o.ShareChat != "" {
			kind = "share_chat"
		}
		if err := checkCardPush(msg, asked[0], oneText, hasMention); err != nil {
			return "", err
		}
	case o.Markdown:
		if !oneText {
			return "", fmt.Errorf("%w: feishu: Markdown is a Push of one text, not of media or mixed items", middleware.ErrUnsupported)
		}
		kind = "markdown"
	case oneText && !o.Post:
		kind = "text"
	case oneImage && !o.Post && !hasMention:
		kind = "image"
	}
	if o.Language != "" && kind != "post" {
		return "", fmt.Errorf("%w: feishu: Language sets a post's language, and this push is a %s", middleware.ErrInvalidOption, kind)
	}
	return kind, nil
}

// checkCardPush refuses what a card or share_chat push cannot carry: it
// takes no content of its own, no media and no mentions.
func checkCardPush(msg *middleware.Message, kind string, oneText, hasMention bool) error {
	switch {
	case !oneText:
		return fmt.Errorf("%w: feishu: %s is a Push of no content, not of media or mixed items", middleware.ErrUnsupported, kind)
	case msg.Items[0].Text != msg.Title:
		return fmt.Errorf("%w: feishu: %s carries its own text: give the push a title and no content", middleware.ErrInvalidOption, kind)
	case hasMention:
		return fmt.Errorf("%w: feishu: mentions go in the card's own lark_md, not in a %s option", middleware.ErrUnsupported, kind)
	}
	return nil
}

// checkMedia refuses what a custom bot cannot send: images without an app,
// and every other media kind.
func (c *Client) checkMedia(msg *middleware.Message) error {
	for i, it := range msg.Items {
		switch {
		case !it.Type.IsMedia():
		case it.Type != middleware.ImageItem:
			return fmt.Errorf("%w: feishu: item %d is %s: a custom bot sends text, posts, images and cards; it cannot send files, voice or video",
				middleware.ErrUnsupported, i, it.Type)
		case c.app == nil:
			return fmt.Errorf("%w: feishu: item %d is an image: a custom bot cannot upload one; give the client an app with WithApp(appID, appSecret)",
				middleware.ErrUnsupported, i)
		default:
			if size, ok := msg.MediaSize(i); ok {
				if err := checkImageSize(i, size); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// planner lays out the messages of one push.
type planner struct {
	c        *Client
	msg      *middleware.Message
	o        *Options
	mentions []string
}

// encode is the body of env with the caller's fields and, when the bot
// signs, the signature's size.
func (p *planner) encode(env envelope) ([]byte, error) {
	if p.c.secret != "" {
		env.Timestamp, env.Sign = tsPlaceholder, signPlaceholder
	}
	return jsonx.Marshal(&env, p.msg.Fields)
}

func (p *planner) size(env envelope) int {
	b, err := p.encode(env)
	if err != nil {
		return BodyLimit + 1
	}
	return len(b)
}

func (p *planner) tooLarge(what string, n int) error {
	return fmt.Errorf("%w: feishu: the %s body is %d bytes; the limit is %d", middleware.ErrTooLarge, what, n, BodyLimit)
}

// whole is a message that cannot be split: a card, a share_chat, an image.
func (p *planner) whole(kind string) ([]part, error) {
	var env envelope
	var images []int
	switch kind {
	case "card":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(p.o.Card, &obj); err != nil {
			return nil, fmt.Errorf("%w: feishu: Card is not a JSON object", middleware.ErrInvalidOption)
		}
		env = envelope{MsgType: "interactive", Card: p.o.Card}
	case "share_chat":
		env = envelope{MsgType: "share_chat", Content: &content{ShareChatID: p.o.ShareChat}}
	default:
		env = envelope{MsgType: "image", Content: &content{ImageKey: keyPlaceholder}}
		images = []int{0}
	}
	b, err := p.encode(env)
	if err != nil {
		return nil, fmt.Errorf("%w: feishu: %w", middleware.ErrInvalidOption, err)
	}
	if len(b) > BodyLimit {
		return nil, p.tooLarge(env.MsgType, len(b))
	}
	return []part{{env: env, images: images, last: true}}, nil
}

// cut splits text so that build(chunk)'s body fits, or refuses it under
// NoSplit.
func (p *planner) cut(text string, markdown bool, build func(string) envelope) ([]string, error) {
	size := func(chunk string) int { return p.size(build(chunk)) }
	if _, err := p.encode(build("")); err != nil {
		return nil, fmt.Errorf("%w: feishu: %w", middleware.ErrInvalidOption, err)
	}
	if n := size(text); n > BodyLimit && p.o.NoSplit {
		return nil, fmt.Errorf("%w: feishu: the message body is %d bytes; the limit is %d (NoSplit)", middleware.ErrTooLarge, n, BodyLimit)
	}
	chunks, ok := textsplit.Fit(text, BodyLimit, markdown, size)
	if !ok {
		return nil, fmt.Errorf("%w: feishu: the fields and mentions alone are over the %d-byte body limit", middleware.ErrTooLarge, BodyLimit)
	}
	return chunks, nil
}

// text is a text message, split when long; the mentions end the last part.
func (p *planner) text() ([]part, error) {
	var tail strings.Builder
	for _, id := range p.mentions {
		tail.WriteString(` <at user_id="` + id + `"></at>`)
	}
	if p.o.MentionAll {
		tail.WriteString(" " + allMention)
	}
	build := func(chunk string) envelope {
		return envelope{MsgType: "text", Content: &content{Text: chunk + tail.String()}}
	}
	chunks, err := p.cut(p.msg.Items[0].Text, false, build)
	if err != nil {
		return nil, err
	}
	parts := make([]part, len(chunks))
	for i, ch := range chunks {
		parts[i] = part{env: envelope{MsgType: "text", Content: &content{Text: ch}}, last: i == len(chunks)-1}
	}
	parts[len(parts)-1].env = build(chunks[len(chunks)-1])
	return parts, nil
}

// markdown is an interactive card of lark_md under the title, split into
// several cards when long.
func (p *planner) markdown() ([]part, error) {
	var tail strings.Builder
	for _, id := range p.mentions {
		tail.WriteString(" <at id=" + id + "></at>")
	}
	if p.o.MentionAll {
		tail.WriteString(" " + cardAllMention)
	}
	build := func(chunk string, last bool) envelope {
		if last {
			chunk += tail.String()
		}
		card := markdownCard{Config: cardConfig{WideScreenMode: true}, Elements: []cardDiv{{Tag: "div", Text: cardText{Tag: "lark_md", Content: chunk}}}}
		if p.msg.Title != "" {
			card.Header = &cardHeader{Title: cardText{Tag: "plain_text", Content: p.msg.Title}}
		}
		raw, _ := jsonx.Marshal(card, nil)
		return envelope{MsgType: "interactive", Card: raw}
	}
	chunks, err := p.cut(p.msg.Items[0].Text, true, func(s string) envelope { return build(s, true) })
	if err != nil {
		return nil, err
	}
	parts := make([]part, len(chunks))
	for i, ch := range chunks {
		last := i == len(chunks)-1
		parts[i] = part{env: build(ch, last), last: last}
	}
	return parts, nil
}

// paragraph is one line of a post and the image it shows, if any.
type paragraph struct {
	tags  []tag
	image int // item index, -1 for none
}

// paragraphs are the post's lines: each text line, each image, each
// caption line, and the mentions last.
func (p *planner) paragraphs() []paragraph {
	var out []paragraph
	lines := func(s string) {
		for _, l := range strings.Split(s, "\n") {
			out = append(out, textParagraph(l))
		}
	}
	for i, it := range p.msg.Items {
		if it.Type == middleware.ImageItem {
			out = append(out, paragraph{tags: []tag{{Tag: "img", ImageKey: keyPlaceholder}}, image: i})
			if it.Caption != "" {
				lines(it.Caption)
			}
			continue
		}
		lines(it.Text)
	}
	if len(p.mentions) > 0 || p.o.MentionAll {
		at := paragraph{image: -1}
		for _, id := range p.mentions {
			at.tags = append(at.tags, tag{Tag: "at", UserID: id})
		}
		if p.o.MentionAll {
			at.tags = append(at.tags, tag{Tag: "at", UserID: "all"})
		}
		out = append(out, at)
	}
	return out
}

// textParagraph is a line as a paragraph; an empty line is an empty
// paragraph.
func textParagraph(line string) paragraph {
	if line == "" {
		return paragraph{tags: []tag{}, image: -1}
	}
	return paragraph{tags: []tag{{Tag: "text", Text: line}}, image: -1}
}

// postEnvelope is a post of paragraphs under the push's title.
func (p *planner) postEnvelope(ps []paragraph) envelope {
	lang := p.o.Language
	if lang == "" {
		lang = defaultLanguage
	}
	body := postLanguage{Title: p.msg.Title, Content: make([][]tag, len(ps))}
	for i, para := range ps {
		body.Content[i] = para.tags
	}
	return envelope{MsgType: "post", Content: &content{Post: map[string]postLanguage{lang: body}}}
}

// post packs the paragraphs into as few posts as fit BodyLimit; a line too
// long for a post of its own is split into several.
func (p *planner) post() ([]part, error) {
	empty := p.size(p.postEnvelope(nil))
	if empty > BodyLimit {
		return nil, p.tooLarge("post", empty)
	}
	var parts []part
	var cur []paragraph
	curSize := empty
	flush := func() {
		if len(cur) > 0 {
			parts = append(parts, p.postPart(cur))
			cur, curSize = nil, empty
		}
	}
	for _, para := range p.paragraphs() {
		raw, err := jsonx.Marshal(para.tags, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: feishu: %w", middleware.ErrInvalidItem, err)
		}
		add := len(raw)
		if len(cur) > 0 {
			add++ // the comma between paragraphs
		}
		if curSize+add <= BodyLimit {
			cur, curSize = append(cur, para), curSize+add
			continue
		}
		flush()
		if empty+len(raw) <= BodyLimit {
			cur, curSize = append(cur, para), empty+len(raw)
			continue
		}
		// One line longer than a whole post: its pieces go out alone.
		if para.tags[0].Tag != "text" {
			return nil, p.tooLarge("post", empty+len(raw))
		}
		pieces, err := p.cut(para.tags[0].Text, false, func(s string) envelope {
			return p.postEnvelope([]paragraph{textParagraph(s)})
		})
		if err != nil {
			return nil, err
		}
		for _, s := range pieces {
			parts = append(parts, p.postPart([]paragraph{textParagraph(s)}))
		}
	}
	flush()
	if p.o.NoSplit && len(parts) > 1 {
		return nil, fmt.Errorf("%w: feishu: the post takes %d messages of at most %d bytes (NoSplit)", middleware.ErrTooLarge, len(parts), BodyLimit)
	}
	parts[len(parts)-1].last = true
	return parts, nil
}

func (p *planner) postPart(ps []paragraph) part {
	pt := part{env: p.postEnvelope(ps)}
	for _, para := range ps {
		if para.image >= 0 {
			pt.images = append(pt.images, para.image)
		}
	}
	return pt
}

// Send delivers msg to the bot's group and returns 1. Images are uploaded
// first, so a failing upload sends nothing. A failure after some messages
// of a split push went out returns 1 with a *middleware.PartialError.
func (c *Client) Send(ctx context.Context, msg *middleware.Message) (int, error) {
	if ctx == nil {
		return 0, errors.New("feishu: nil context")
	}
	n, err := c.send(ctx, msg)
	return n, c.redact(err)
}

func (c *Client) send(ctx context.Context, msg *middleware.Message) (int, error) {
	parts, err := c.plan(msg)
	if err != nil {
		return 0, err
	}
	keys := map[int]string{}
	for _, pt := range parts {
		for _, i := range pt.images {
			if _, ok := keys[i]; ok {
				continue
			}
			if keys[i], err = c.app.image(ctx, msg, i); err != nil {
				return 0, err
			}
		}
	}
	ctx, err = c.sender.BookParts(ctx, c.budgets, len(parts), msg.Resume)
	if err != nil {
		return 0, err
	}
	for i, pt := range parts {
		if i < msg.Resume {
			continue // delivered by an earlier try
		}
		withKeys(&pt.env, pt.images, keys)
		if err := c.post(ctx, msg, pt.env); err != nil {
			if i == 0 {
				return 0, err
			}
			return 1, &middleware.PartialError{FailedItem: len(msg.Items) - 1, SentParts: i, Err: err,
				MaybeDelivered: errors.Is(err, middleware.ErrMaybeDelivered)}
		}
	}
	return 1, nil
}

// withKeys puts the uploaded image_keys where the plan held placeholders,
// in order.
func withKeys(env *envelope, images []int, keys map[int]string) {
	if len(images) == 0 {
		return
	}
	if env.MsgType == "image" {
		env.Content = &content{ImageKey: keys[images[0]]}
		return
	}
	next := 0
	post := map[string]postLanguage{}
	for lang, body := range env.Content.Post {
		paras := make([][]tag, len(body.Content))
		for i, para := range body.Content {
			paras[i] = para
			if len(para) == 1 && para[0].Tag == "img" {
				paras[i] = []tag{{Tag: "img", ImageKey: keys[images[next]]}}
				next++
			}
		}
		post[lang] = postLanguage{Title: body.Title, Content: paras}
	}
	env.Content = &content{Post: post}
}

// post sends one message, signed at each attempt.
func (c *Client) post(ctx context.Context, msg *middleware.Message, env envelope) error {
	return c.sender.Post(ctx, hook.Request{Budgets: c.budgets, Build: func() (string, []byte, error) {
		if c.secret != "" {
			ts := c.now().Unix()
			env.Timestamp, env.Sign = strconv.FormatInt(ts, 10), Sign(ts, c.secret)
		}
		body, err := jsonx.Marshal(&env, msg.Fields)
		if err != nil {
			return "", nil, fmt.Errorf("feishu: %w", err)
		}
		return c.hookURL(), body, nil
	}})
}
