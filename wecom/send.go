package wecom

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imbridge/middleware"
)

// Size limits of WeCom media, in bytes.
const (
	ImageLimit     = 2 << 20  // image message, raw bytes
	VoiceLimit     = 2 << 20  // voice upload
	FileLimit      = 20 << 20 // file upload
	minUploadBytes = 6        // uploads must be larger than 5 bytes
	maxChatIDs     = 100
)

// target is where one push goes.
type target struct {
	chatID   string // "" = the bot's own group
	count    int
	mentions []string // users to mention (from userID with a group, or Mention)
}

func (c *Client) target(groups, users []string, o *sendOpts) target {
	t := target{mentions: o.mentions}
	switch {
	case len(groups) > 0:
		t.chatID, t.count = strings.Join(groups, "|"), len(groups)
		if len(users) > 0 && o.mentions == nil {
			t.mentions = users
		}
	case len(users) > 0:
		t.chatID, t.count = strings.Join(users, "|"), len(users)
	default:
		t.count = 1
	}
	return t
}

// Validate checks msg against WeCom's limits without I/O, so that nothing
// of a bad push is sent.
func (c *Client) Validate(msg *middleware.Message) error {
	o := readOpts(msg.Extras)
	_, _, err := c.plan(msg, &o)
	return err
}

// step is one WeCom message of a push.
type step struct {
	item  int    // index in msg.Items; for joined text, the last item
	items []int  // every item the step carries
	last  bool   // the step completes its items
	text  string // text or markdown content
	kind  string // msgtype for text steps; "media" otherwise
	// mention marks the one text step that carries the mentions, so users
	// are pinged once per push.
	mention bool
}

// plan validates msg and lays out its messages (text split into chunks,
// consecutive text items joined, one step per media item) and the target.
func (c *Client) plan(msg *middleware.Message, o *sendOpts) (steps []step, t target, err error) {
	groups, users := msg.Groups(), msg.Users()
	for _, l := range []struct {
		arg string
		ids []string
	}{{"groupCode", groups}, {"userID", users}} {
		if len(l.ids) > maxChatIDs {
			return nil, t, fmt.Errorf("%w: wecom: %s holds %d ids; a push reaches at most %d", middleware.ErrInvalidTarget, l.arg, len(l.ids), maxChatIDs)
		}
	}
	t = c.target(groups, users, o)
	if len(o.visibleTo) > 0 && (len(groups) != 1) {
		return nil, t, fmt.Errorf("%w: wecom: VisibleTo needs exactly one group in groupCode", middleware.ErrInvalidTarget)
	}
	if o.postID != "" && strings.Contains(t.chatID, "|") {
		return nil, t, fmt.Errorf("%w: wecom: PostID needs exactly one blackboard chatid", middleware.ErrInvalidTarget)
	}
	if len(msg.Items) == 0 {
		return nil, t, fmt.Errorf("%w: wecom: no items", middleware.ErrInvalidItem)
	}

	mixed := len(msg.Items) > 1
	mentioned := false
	var run []int // a run of text items waiting to be joined
	var runText []string
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		format := o.format
		if format == "" || format == formatText {
			if mixed || msg.Items[run[0]].Type == middleware.MarkdownItem {
				format = formatMarkdown
			} else {
				format = formatText
			}
		}
		if format != formatMarkdown && len(o.attachments) > 0 {
			return fmt.Errorf("%w: wecom: Buttons work only with markdown", middleware.ErrUnsupported)
		}
		if err := validateAttachments(o.attachments); err != nil {
			return err
		}
		content := strings.Join(runText, "\n\n")
		limit := TextLimit
		switch format {
		case formatMarkdown:
			limit = MarkdownLimit
			if o.mentionAll || len(o.mobiles) > 0 {
				return fmt.Errorf("%w: wecom: MentionAll and MentionMobile work only in text messages", middleware.ErrUnsupported)
			}
			if len(t.mentions) > 0 && !mentioned {
				content += "\n" + mentionTags(t.mentions)
			}
		case formatMarkdownV2:
			limit = MarkdownLimit
			if len(t.mentions) > 0 || o.mentionAll || len(o.mobiles) > 0 {
				return fmt.Errorf("%w: wecom: markdown_v2 cannot mention users", middleware.ErrUnsupported)
			}
		}
		var chunks []string
		switch {
		case len(content) <= limit:
			chunks = []string{content}
		case o.noSplit:
			return fmt.Errorf("%w: wecom: %s content is %d bytes; the limit is %d (NoSplit)", middleware.ErrTooLarge, format, len(content), limit)
		case format == formatText:
			chunks = splitText(content, limit)
		default:
			chunks = splitMarkdown(content, limit)
		}
		for i, ch := range chunks {
			steps = append(steps, step{item: run[len(run)-1], items: run, last: i == len(chunks)-1, text: ch, kind: format,
				mention: !mentioned && i == 0 && format == formatText})
		}
		mentioned = true
		run, runText = nil, nil
		return nil
	}
	for i, it := range msg.Items {
		if !it.Type.IsMedia() {
			run = append(run, i)
			runText = append(runText, it.Text)
			continue
		}
		if err := flush(); err != nil {
			return nil, t, err
		}
		if size, ok := msg.MediaSize(i); ok {
			if err := checkUploadSize(i, it.Type, size); err != nil {
				return nil, t, err
			}
		}
		steps = append(steps, step{item: i, items: []int{i}, last: true, kind: "media"})
	}
	if err := flush(); err != nil {
		return nil, t, err
	}
	// Media carry no mention: a mention goes in a short text after them.
	hasText := false
	for _, s := range steps {
		hasText = hasText || s.kind != "media"
	}
	if !hasText && (len(t.mentions) > 0 || o.mentionAll || len(o.mobiles) > 0) {
		note := msg.Title
		if note == "" {
			note = "⬆"
		}
		steps = append(steps, step{item: -1, last: true, text: note, kind: formatText, mention: true})
	}
	return steps, t, nil
}

func checkUploadSize(i int, t middleware.ItemType, size int64) error {
	switch {
	case size > FileLimit:
		return fmt.Errorf("%w: wecom: item %d (%s) is %d bytes; WeCom takes at most %d", middleware.ErrTooLarge, i, t, size, FileLimit)
	case size < minUploadBytes && !(t == middleware.ImageItem):
		return fmt.Errorf("%w: wecom: item %d (%s) is %d bytes; WeCom uploads must be larger than 5 bytes", middleware.ErrInvalidItem, i, t, size)
	}
	return nil
}

// Send delivers msg. It returns the number of chat ids reached (1 for the
// bot's own group). A failure after some messages went out returns the
// count with a *middleware.PartialError; its MaybeDelivered says whether
// the failed message may have arrived all the same.
func (c *Client) Send(ctx context.Context, msg *middleware.Message) (int, error) {
	if ctx == nil {
		return 0, errNilContext
	}
	n, err := c.send(ctx, msg)
	return n, c.redact(err)
}

func (c *Client) send(ctx context.Context, msg *middleware.Message) (int, error) {
	o := readOpts(msg.Extras)
	steps, t, err := c.plan(msg, &o)
	if err != nil {
		return 0, err
	}

	// Open every media item first: a source that is too large or
	// unreachable fails the push before any message goes out.
	media := make(map[int]*openedMedia)
	defer func() {
		for _, m := range media {
			m.Close()
		}
	}()
	for _, s := range steps {
		if s.kind != "media" {
			continue
		}
		om, err := c.openMedia(ctx, msg, s.item)
		if err != nil {
			return 0, err
		}
		media[s.item] = om
	}

	var delivered []int
	sent := 0
	for _, s := range steps {
		var err error
		if s.kind == "media" {
			err = c.sendMedia(ctx, msg, &o, t, media[s.item])
		} else {
			err = c.sendText(ctx, msg, &o, t, s)
		}
		if err != nil {
			if sent == 0 {
				return 0, err
			}
			return t.count, &middleware.PartialError{DeliveredItems: delivered, FailedItem: s.item, SentParts: sent, Err: err,
				MaybeDelivered: errors.Is(err, middleware.ErrMaybeDelivered)}
		}
		sent++
		if s.last {
			delivered = append(delivered, s.items...)
		}
	}
	return t.count, nil
}

// sendText sends one text or markdown step; the step marked mention
// carries the mention lists.
func (c *Client) sendText(ctx context.Context, msg *middleware.Message, o *sendOpts, t target, s step) error {
	env := &envelope{ChatID: t.chatID, MsgType: s.kind, PostID: o.postID, VisibleToUser: strings.Join(o.visibleTo, "|")}
	switch s.kind {
	case formatText:
		tc := &textContent{Content: s.text}
		if s.mention {
			tc.MentionedList = append(tc.MentionedList, t.mentions...)
			if o.mentionAll {
				tc.MentionedList = append(tc.MentionedList, "@all")
			}
			tc.MentionedMobileList = o.mobiles
		}
		env.Text = tc
	case formatMarkdown:
		env.Markdown = &mdContent{Content: s.text, AtShortName: o.atShortName}
		if s.last {
			env.Markdown.Attachments = withButtonType(o.attachments)
		}
	case formatMarkdownV2:
		env.MarkdownV2 = &mdV2Content{Content: s.text}
	}
	body, err := marshalBody(env, msg.Fields)
	if err != nil {
		return err
	}
	_, err = c.sendBody(ctx, body)
	return err
}

// errMediaExpired marks a send refused for an unknown or expired media_id.
func isMediaExpired(err error) bool {
	var api *middleware.APIError
	return errors.As(err, &api) && api.Code == 40007
}

// validateAttachments checks markdown buttons against WeCom's limits.
func validateAttachments(as []Attachment) error {
	actions := 0
	for i, a := range as {
		for j, act := range a.Actions {
			actions++
			for _, f := range []struct {
				name, v string
				max     int
			}{{"Name", act.Name, 64}, {"Text", act.Text, 128}, {"Value", act.Value, 128}, {"ReplaceText", act.ReplaceText, 128}} {
				if len(f.v) > f.max {
					return fmt.Errorf("%w: wecom: attachment %d action %d: %s is %d bytes; the limit is %d", middleware.ErrTooLarge, i, j, f.name, len(f.v), f.max)
				}
			}
			if act.Type != "" && act.Type != "button" {
				return fmt.Errorf("%w: wecom: attachment %d action %d: type %q; only \"button\"", middleware.ErrUnsupported, i, j, act.Type)
			}
		}
	}
	if actions > 20 {
		return fmt.Errorf("%w: wecom: %d button actions; at most 20", middleware.ErrTooLarge, actions)
	}
	return nil
}

// withButtonType fills the one action type WeCom knows where it was left
// empty, without touching the caller's slices.
func withButtonType(as []Attachment) []Attachment {
	if len(as) == 0 {
		return nil
	}
	out := make([]Attachment, len(as))
	for i, a := range as {
		acts := make([]Action, len(a.Actions))
		for j, act := range a.Actions {
			if act.Type == "" {
				act.Type = "button"
			}
			acts[j] = act
		}
		out[i] = Attachment{CallbackID: a.CallbackID, Actions: acts}
	}
	return out
}
