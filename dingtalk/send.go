package dingtalk

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/hook"
	"github.com/imbridge/middleware/internal/jsonx"
	"github.com/imbridge/middleware/internal/textsplit"
)

// BodyLimit is the largest request body DingTalk takes, in bytes (errcode
// 460101 past it). Texts are split so that each message's encoded body
// fits, escapes included.
const BodyLimit = 20000

// previewLimit bounds a markdown title derived from the text: it is only
// the conversation list's preview.
const previewLimit = 64

// part is one DingTalk message of a push.
type part struct {
	env  envelope
	last bool // the part completes the push's items
}

// Validate checks msg against DingTalk's rules and limits without I/O, so
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
		return nil, fmt.Errorf("%w: dingtalk: a custom robot posts only into the group it was added to: leave groupCode empty", middleware.ErrInvalidTarget)
	}
	if len(msg.Items) == 0 {
		return nil, fmt.Errorf("%w: dingtalk: no items", middleware.ErrInvalidItem)
	}
	mention := mentionOf(msg, &o)
	card, err := cardKind(&o)
	if err != nil {
		return nil, err
	}
	if card != "" {
		if len(msg.Items) != 1 || msg.Items[0].Type != middleware.TextItem {
			return nil, fmt.Errorf("%w: dingtalk: %s is a Push of one text, not of media or mixed items", middleware.ErrUnsupported, card)
		}
		if mention != nil {
			return nil, fmt.Errorf("%w: dingtalk: mentions work in text and markdown messages, not in a %s", middleware.ErrUnsupported, card)
		}
		env, err := cardEnvelope(msg, &o, card)
		if err != nil {
			return nil, err
		}
		return c.whole(msg, env)
	}
	text, markdown, err := content(msg, &o)
	if err != nil {
		return nil, err
	}
	return c.split(msg, &o, text, markdown, mention)
}

// mentionOf gathers the mentions of o and of msg's userID; nil for none.
func mentionOf(msg *middleware.Message, o *Options) *at {
	users := append(append([]string(nil), o.MentionUsers...), msg.Users()...)
	if len(users) == 0 && len(o.MentionMobiles) == 0 && !o.MentionAll {
		return nil
	}
	return &at{AtMobiles: o.MentionMobiles, AtUserIDs: users, IsAtAll: o.MentionAll}
}

// mentionTail is what the text must say for DingTalk to notify the
// mentioned: "@" and each mobile or user id.
func mentionTail(a *at) string {
	if a == nil || len(a.AtMobiles)+len(a.AtUserIDs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n")
	for i, id := range append(append([]string(nil), a.AtMobiles...), a.AtUserIDs...) {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("@" + id)
	}
	return b.String()
}

// cardKind says which card type the options ask for: "" for text or
// markdown; two at once is ErrInvalidOption.
func cardKind(o *Options) (string, error) {
	var kinds []string
	if o.Link != nil {
		kinds = append(kinds, "link")
	}
	if len(o.Buttons) > 0 {
		kinds = append(kinds, "actionCard")
	}
	if len(o.FeedCard) > 0 {
		kinds = append(kinds, "feedCard")
	}
	switch {
	case len(kinds) > 1:
		return "", fmt.Errorf("%w: dingtalk: %s are message types of their own: give one", middleware.ErrInvalidOption, strings.Join(kinds, " and "))
	case len(kinds) == 1 && o.Markdown:
		return "", fmt.Errorf("%w: dingtalk: Markdown with %s: a %s is a message type of its own", middleware.ErrInvalidOption, kinds[0], kinds[0])
	case len(kinds) == 0 && (o.ButtonsHorizontal || o.HideAvatar):
		return "", fmt.Errorf("%w: dingtalk: ButtonsHorizontal and HideAvatar lay out an ActionCard, and there is none", middleware.ErrInvalidOption)
	case len(kinds) == 0:
		return "", nil
	}
	return kinds[0], nil
}

// cardEnvelope builds a link, actionCard or feedCard from the push's title
// and text.
func cardEnvelope(msg *middleware.Message, o *Options, card string) (envelope, error) {
	title, text := msg.Title, msg.Items[0].Text
	bad := func(kind error, format string, args ...any) (envelope, error) {
		return envelope{}, fmt.Errorf("%w: dingtalk: %s: %s", kind, card, fmt.Sprintf(format, args...))
	}
	if card != "feedCard" && title == "" {
		return bad(middleware.ErrInvalidItem, "the title is required")
	}
	switch card {
	case "link":
		if err := checkURL("Link messageURL", o.Link.MessageURL, true); err != nil {
			return envelope{}, err
		}
		if err := checkURL("Link picURL", o.Link.PicURL, false); err != nil {
			return envelope{}, err
		}
		return envelope{MsgType: "link", Link: &linkContent{Title: title, Text: text, MessageURL: o.Link.MessageURL, PicURL: o.Link.PicURL}}, nil
	case "actionCard":
		ac := &actionCardBody{Title: title, Text: text, BtnOrientation: onOff(o.ButtonsHorizontal), HideAvatar: onOff(o.HideAvatar)}
		for i, b := range o.Buttons {
			if b.Title == "" {
				return bad(middleware.ErrInvalidItem, "button %d has no title", i)
			}
			if err := checkURL(fmt.Sprintf("button %d URL", i), b.URL, true); err != nil {
				return envelope{}, err
			}
			ac.Btns = append(ac.Btns, button{Title: b.Title, ActionURL: b.URL})
		}
		if len(ac.Btns) == 1 {
			ac.SingleTitle, ac.SingleURL, ac.Btns = ac.Btns[0].Title, ac.Btns[0].ActionURL, nil
		}
		return envelope{MsgType: "actionCard", ActionCard: ac}, nil
	}
	if text != title {
		return bad(middleware.ErrInvalidOption, "a feedCard shows only its links: give the push a title and no content")
	}
	fc := &feedCardBody{}
	for i, l := range o.FeedCard {
		if l.Title == "" {
			return bad(middleware.ErrInvalidItem, "link %d has no title", i)
		}
		for _, u := range []struct{ name, v string }{{"messageURL", l.MessageURL}, {"picURL", l.PicURL}} {
			if err := checkURL(fmt.Sprintf("feedCard link %d %s", i, u.name), u.v, true); err != nil {
				return envelope{}, err
			}
		}
		fc.Links = append(fc.Links, feedLink(l))
	}
	return envelope{MsgType: "feedCard", FeedCard: fc}, nil
}

// onOff is DingTalk's spelling of a layout switch: "1" on, absent off.
func onOff(on bool) string {
	if on {
		return "1"
	}
	return ""
}

// checkURL refuses a URL the DingTalk client cannot open: only http(s)
// and dingtalk:// links work.
func checkURL(name, v string, required bool) error {
	if v == "" {
		if required {
			return fmt.Errorf("%w: dingtalk: %s is required", middleware.ErrInvalidItem, name)
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "dingtalk") || !utf8.ValidString(v) {
		return fmt.Errorf("%w: dingtalk: %s is not an http(s) or dingtalk:// URL", middleware.ErrInvalidItem, name)
	}
	return nil
}

// content joins msg's items into one text: plain text for a Push of text,
// markdown when asked for, for images (as ![name](url): a custom robot
// cannot upload, so an image must be a URL DingTalk can fetch) and for
// PushMixed.
func content(msg *middleware.Message, o *Options) (text string, markdown bool, err error) {
	markdown = o.Markdown || len(msg.Items) > 1 || msg.Items[0].Type != middleware.TextItem
	parts := make([]string, 0, len(msg.Items))
	for i, it := range msg.Items {
		switch it.Type {
		case middleware.TextItem, middleware.MarkdownItem:
			parts = append(parts, it.Text)
		case middleware.ImageItem:
			img, err := imageMarkdown(i, it, msg.Title)
			if err != nil {
				return "", false, err
			}
			parts = append(parts, img)
			if it.Caption != "" {
				parts = append(parts, it.Caption)
			}
		default:
			return "", false, fmt.Errorf("%w: dingtalk: item %d is %s: a custom robot sends text, markdown, links and cards, "+
				"and images by URL; it cannot send files, voice or video", middleware.ErrUnsupported, i, it.Type)
		}
	}
	return strings.Join(parts, "\n\n"), markdown, nil
}

// imageMarkdown is an image item as markdown: its source must be an
// http(s) URL, which DingTalk's clients fetch.
func imageMarkdown(i int, it middleware.Item, title string) (string, error) {
	u, err := url.Parse(it.Source)
	if it.Data != nil || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%w: dingtalk: item %d: a custom robot cannot upload an image; give an http(s) URL the DingTalk app can fetch", middleware.ErrUnsupported, i)
	}
	alt := firstNonEmpty(it.Name, title, "image")
	alt = strings.NewReplacer("[", "(", "]", ")", "\n", " ").Replace(alt)
	return "![" + alt + "](" + strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(it.Source) + ")", nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// split lays out a text or markdown push: one message when its body fits
// BodyLimit, else several, cut on rune (text) or block (markdown)
// boundaries. The mentions go with the last message, "@" tail and all.
func (c *Client) split(msg *middleware.Message, o *Options, text string, markdown bool, mention *at) ([]part, error) {
	tail := mentionTail(mention)
	title := ""
	if markdown {
		title = previewTitle(msg.Title, text)
	}
	build := func(chunk string, withMention bool) envelope {
		if withMention {
			chunk += tail
		}
		env := envelope{MsgType: "text", Text: &textContent{Content: chunk}}
		if markdown {
			env = envelope{MsgType: "markdown", Markdown: &mdContent{Title: title, Text: chunk}}
		}
		if withMention {
			env.At = mention
		}
		return env
	}
	size := func(chunk string) int {
		env := build(chunk, mention != nil)
		env.MsgUUID = uuidPlaceholder(msg)
		b, err := jsonx.Marshal(&env, msg.Fields)
		if err != nil {
			return BodyLimit + 1
		}
		return len(b)
	}
	if _, err := jsonx.Marshal(build("", false), msg.Fields); err != nil {
		return nil, fmt.Errorf("%w: dingtalk: %w", middleware.ErrInvalidOption, err)
	}
	if n := size(text); n > BodyLimit && o.NoSplit {
		return nil, fmt.Errorf("%w: dingtalk: the message body is %d bytes; the limit is %d (NoSplit)", middleware.ErrTooLarge, n, BodyLimit)
	}
	chunks, ok := textsplit.Fit(text, BodyLimit, markdown, size)
	if !ok {
		return nil, fmt.Errorf("%w: dingtalk: the fields and mentions alone are over the %d-byte body limit", middleware.ErrTooLarge, BodyLimit)
	}
	parts := make([]part, len(chunks))
	for i, ch := range chunks {
		last := i == len(chunks)-1
		parts[i] = part{env: build(ch, last && mention != nil), last: last}
	}
	return parts, nil
}

// whole is a card push: one message, refused when over the limit (a card
// cannot be split).
func (c *Client) whole(msg *middleware.Message, env envelope) ([]part, error) {
	env.MsgUUID = uuidPlaceholder(msg)
	b, err := jsonx.Marshal(&env, msg.Fields)
	if err != nil {
		return nil, fmt.Errorf("%w: dingtalk: %w", middleware.ErrInvalidOption, err)
	}
	if len(b) > BodyLimit {
		return nil, fmt.Errorf("%w: dingtalk: the %s body is %d bytes; the limit is %d", middleware.ErrTooLarge, env.MsgType, len(b), BodyLimit)
	}
	env.MsgUUID = ""
	return []part{{env: env, last: true}}, nil
}

// previewTitle is a markdown message's title: the push's, else the text's
// first line without markdown marks, cut to previewLimit bytes. DingTalk
// shows it only in the conversation list.
func previewTitle(title, text string) string {
	if title != "" {
		return title
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "#>-*! \t"))
		if line == "" {
			continue
		}
		if len(line) > previewLimit {
			cut := previewLimit
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			line = line[:cut] + "…"
		}
		return line
	}
	return "message"
}

// msgUUID is the idempotency field of part i of a push with an
// IdempotencyKey: DingTalk does not post a message twice under one msgUuid.
// It is sent, but nothing relies on it: DingTalk does not document how long
// it remembers one.
func msgUUID(msg *middleware.Message, i int) string {
	if msg.IdempotencyKey == 0 {
		return ""
	}
	return fmt.Sprintf("%016x-%d", msg.IdempotencyKey, i)
}

// uuidPlaceholder is as long as the longest msgUuid of msg, for sizing.
func uuidPlaceholder(msg *middleware.Message) string {
	if msg.IdempotencyKey == 0 {
		return ""
	}
	return fmt.Sprintf("%016x-%d", msg.IdempotencyKey, 9999)
}

// Send delivers msg to the robot's group and returns 1. A failure after
// some messages of a split text went out returns 1 with a
// *middleware.PartialError saying how many parts were delivered, and
// whether the failed one may have arrived.
func (c *Client) Send(ctx context.Context, msg *middleware.Message) (int, error) {
	if ctx == nil {
		return 0, errors.New("dingtalk: nil context")
	}
	n, err := c.send(ctx, msg)
	return n, c.redact(err)
}

func (c *Client) send(ctx context.Context, msg *middleware.Message) (int, error) {
	parts, err := c.plan(msg)
	if err != nil {
		return 0, err
	}
	items := make([]int, len(msg.Items))
	for i := range items {
		items[i] = i
	}
	ctx, err = c.sender.BookParts(ctx, c.budgets, len(parts), msg.Resume)
	if err != nil {
		return 0, err
	}
	for i, p := range parts {
		if i < msg.Resume {
			continue // delivered by an earlier try
		}
		err := c.post(ctx, msg, i, p.env)
		if err == nil {
			continue
		}
		if i == 0 {
			return 0, err
		}
		return 1, &middleware.PartialError{FailedItem: len(msg.Items) - 1, SentParts: i, Err: err,
			MaybeDelivered: errors.Is(err, middleware.ErrMaybeDelivered)}
	}
	return 1, nil
}

// post sends one message: refused at once while DingTalk throttles the
// robot, paced, signed at each attempt.
func (c *Client) post(ctx context.Context, msg *middleware.Message, i int, env envelope) error {
	if err := c.throttled(); err != nil {
		return err
	}
	env.MsgUUID = msgUUID(msg, i)
	body, err := jsonx.Marshal(&env, msg.Fields)
	if err != nil {
		return fmt.Errorf("dingtalk: %w", err)
	}
	err = c.sender.Post(ctx, hook.Request{Budgets: c.budgets, Build: func() (string, []byte, error) {
		return c.sendURL(c.now()), body, nil
	}})
	c.noteThrottle(err)
	return err
}

// throttled refuses a send while the platform's ten-minute block lasts:
// DingTalk would refuse it and may extend the block.
func (c *Client) throttled() error {
	until := c.blockedUntil.Load()
	if until == 0 {
		return nil
	}
	left := time.Duration(until - c.now().UnixNano())
	if left <= 0 {
		c.blockedUntil.CompareAndSwap(until, 0)
		return nil
	}
	return &middleware.LimitError{Backend: IM, RetryAfter: left,
		Reason: "DingTalk throttles this robot for 10 minutes after it went over 20 messages a minute"}
}

// noteThrottle starts the block when DingTalk says the robot is throttled.
func (c *Client) noteThrottle(err error) {
	var api *middleware.APIError
	if errors.As(err, &api) && throttle(api.Code) {
		c.blockedUntil.Store(c.now().Add(api.RetryAfter).UnixNano())
	}
}
