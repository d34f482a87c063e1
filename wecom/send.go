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
	maxActions     = 20 // button actions per markdown attachment
)

// target is where one push goes.
type target struct {
	chatID   string // "" = the bot's own group
	count    int
	mentions []string // users to mention (from userID with a group, or Mention)
}

// planTarget checks the ids and the options that depend on them, and
// returns where the push goes.
func planTarget(msg *middleware.Message, o *Options) (target, error) {
	groups, users := msg.Groups(), msg.Users()
	for _, l := range []struct {
		arg string
		ids []string
	}{{"groupCode", groups}, {"userID", users}} {
		if len(l.ids) > maxChatIDs {
			return target{}, fmt.Errorf("%w: wecom: %s holds %d ids; a push reaches at most %d", middleware.ErrInvalidTarget, l.arg, len(l.ids), maxChatIDs)
		}
	}
	t := target{mentions: o.Mentions}
	switch {
	case len(groups) > 0:
		t.chatID, t.count = strings.Join(groups, "|"), len(groups)
		if len(users) > 0 && o.Mentions == nil {
			t.mentions = users
		}
	case len(users) > 0:
		t.chatID, t.count = strings.Join(users, "|"), len(users)
	default:
		t.count = 1
	}
	if len(o.VisibleTo) > 0 && len(groups) != 1 {
		return t, fmt.Errorf("%w: wecom: VisibleTo needs exactly one group in groupCode", middleware.ErrInvalidTarget)
	}
	if o.PostID != "" {
		// "有且只有chatid指定了一个小黑板的时候生效": exactly one chatid.
		if t.chatID == "" || t.count != 1 {
			return t, fmt.Errorf("%w: wecom: PostID needs exactly one blackboard chatid in groupCode", middleware.ErrInvalidTarget)
		}
		if len(t.mentions) > 0 || o.MentionAll || len(o.MentionMobiles) > 0 {
			return t, fmt.Errorf("%w: wecom: mentions do not work in a blackboard post", middleware.ErrUnsupported)
		}
	}
	return t, nil
}

// Validate checks msg against WeCom's limits without I/O, so that nothing
// of a bad push is sent.
func (c *Client) Validate(msg *middleware.Message) error {
	o := readOpts(msg.Extras)
	steps, _, err := c.plan(msg, &o)
	if err != nil {
		return err
	}
	_, _, err = c.parts(msg, &o, steps)
	return err
}

// parts checks, without I/O, what a push's messages may spend: from
// Resume on, all of them must fit in one window of each budget (they are
// booked at once, before the first leaves), unless SpreadOverWindows lets
// them go message by message. It returns how many that is, and whether
// they are booked at once.
func (c *Client) parts(msg *middleware.Message, o *Options, steps []step) (k int, atOnce bool, err error) {
	if msg.Resume > 0 && msg.Resume >= len(steps) {
		return 0, false, fmt.Errorf("%w: wecom: resume after %d messages, and the push takes %d", middleware.ErrInvalidOption, msg.Resume, len(steps))
	}
	k = len(steps) - msg.Resume
	if c.limiter == nil || c.pace.perChat == 0 || o.Spread {
		return k, false, nil
	}
	if limit := min(c.pace.perChat, c.pace.perBot); k > limit {
		return k, false, fmt.Errorf("%w: wecom: the push takes %d messages, and the budget allows %d per %s: shorten it, or give SpreadOverWindows to send it over several windows",
			middleware.ErrInvalidItem, k, limit, c.pace.window)
	}
	return k, true, nil
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

// plan validates msg and lays out its messages: consecutive text items
// joined and split into chunks, one step per media item (and one for its
// caption), and the target.
func (c *Client) plan(msg *middleware.Message, o *Options) ([]step, target, error) {
	t, err := planTarget(msg, o)
	if err != nil {
		return nil, t, err
	}
	if len(msg.Items) == 0 {
		return nil, t, fmt.Errorf("%w: wecom: no items", middleware.ErrInvalidItem)
	}
	if err := validateAttachments(o.Buttons); err != nil {
		return nil, t, err
	}
	p := &planner{msg: msg, o: *o, t: t, mixed: len(msg.Items) > 1, heading: o.TitleAsHeading && msg.Title != ""}
	var run []int // text items waiting to be joined
	for i, it := range msg.Items {
		if !it.Type.IsMedia() {
			run = append(run, i)
			continue
		}
		if err := p.addText(run, "", true); err != nil {
			return nil, t, err
		}
		run = nil
		if err := p.addMedia(i, it); err != nil {
			return nil, t, err
		}
	}
	if err := p.addText(run, "", true); err != nil {
		return nil, t, err
	}
	p.addMentionNote()
	return p.steps, t, nil
}

// planner lays out the messages of one push, step by step.
type planner struct {
	msg       *middleware.Message
	o         Options // a copy: the caller's stays on its stack
	t         target
	mixed     bool
	heading   bool // TitleAsHeading with a title: not yet placed
	mentioned bool // the mentions have a step
	steps     []step
}

// format picks the msgtype of a text step, its byte limit, and checks the
// options that only some formats take.
func (p *planner) format(first middleware.ItemType) (format string, limit int, err error) {
	format = p.o.Format
	if format == "" || format == formatText {
		format = formatText
		if p.mixed || first == middleware.MarkdownItem {
			format = formatMarkdown
		}
	}
	o := &p.o
	switch {
	case format != formatMarkdown && len(o.Buttons) > 0:
		return "", 0, fmt.Errorf("%w: wecom: Buttons work only with markdown", middleware.ErrUnsupported)
	case format == formatText && o.TitleAsHeading:
		return "", 0, fmt.Errorf("%w: wecom: TitleAsHeading needs Markdown() or MarkdownV2()", middleware.ErrInvalidOption)
	case format == formatMarkdown && (o.MentionAll || len(o.MentionMobiles) > 0):
		return "", 0, fmt.Errorf("%w: wecom: MentionAll and MentionMobile work only in text messages", middleware.ErrUnsupported)
	case format == formatMarkdownV2 && (len(p.t.mentions) > 0 || o.MentionAll || len(o.MentionMobiles) > 0):
		return "", 0, fmt.Errorf("%w: wecom: markdown_v2 cannot mention users", middleware.ErrUnsupported)
	case format == formatMarkdownV2 && o.PostID != "":
		// "该消息类型不支持发送到小黑板中"
		return "", 0, fmt.Errorf("%w: wecom: markdown_v2 cannot go to a blackboard post", middleware.ErrUnsupported)
	}
	if format == formatText {
		return format, TextLimit, nil
	}
	return format, MarkdownLimit, nil
}

// chunk cuts content to the limit: as it is when it fits, ErrTooLarge with
// NoSplit, else split on rune (text) or block (markdown) boundaries.
func chunk(content, format string, limit int, noSplit bool) ([]string, error) {
	switch {
	case len(content) <= limit:
		return []string{content}, nil
	case noSplit:
		return nil, fmt.Errorf("%w: wecom: %s content is %d bytes; the limit is %d (NoSplit)", middleware.ErrTooLarge, format, len(content), limit)
	case format == formatText:
		return splitText(content, limit), nil
	}
	return splitMarkdown(content, limit), nil
}

// addText adds the steps of a text run: the items' texts joined, or text
// when given (a caption). last says whether the run completes its items.
func (p *planner) addText(items []int, text string, last bool) error {
	if len(items) == 0 {
		return nil
	}
	format, limit, err := p.format(p.msg.Items[items[0]].Type)
	if err != nil {
		return err
	}
	content := text
	if content == "" {
		texts := make([]string, len(items))
		for j, i := range items {
			texts[j] = p.msg.Items[i].Text
		}
		content = strings.Join(texts, "\n\n")
	}
	if p.heading {
		// WeCom has no title field: shown as the first heading, unless
		// the text is the title already (a Push whose content was empty).
		if content != p.msg.Title {
			content = "# " + p.msg.Title + "\n\n" + content
		}
		p.heading = false
	}
	if format == formatMarkdown && len(p.t.mentions) > 0 && !p.mentioned {
		content += "\n" + mentionTags(p.t.mentions)
	}
	chunks, err := chunk(content, format, limit, p.o.NoSplit)
	if err != nil {
		return err
	}
	for i, ch := range chunks {
		p.steps = append(p.steps, step{item: items[len(items)-1], items: items, last: last && i == len(chunks)-1,
			text: ch, kind: format, mention: !p.mentioned && i == 0 && format == formatText})
	}
	p.mentioned = true
	return nil
}

// addMedia adds the step of media item i, and its caption's after it.
func (p *planner) addMedia(i int, it middleware.Item) error {
	if size, ok := p.msg.MediaSize(i); ok {
		if err := checkUploadSize(i, it.Type, size); err != nil {
			return err
		}
	}
	if p.o.PostID != "" && it.Type != middleware.ImageItem {
		return fmt.Errorf("%w: wecom: item %d: a blackboard post takes text, markdown and images, not %s", middleware.ErrUnsupported, i, it.Type)
	}
	p.steps = append(p.steps, step{item: i, items: []int{i}, last: it.Caption == "", kind: "media"})
	if it.Caption == "" {
		return nil
	}
	return p.addText([]int{i}, it.Caption, true)
}

// addMentionNote follows a push of media only with a short text carrying
// its mentions: media cannot mention anyone.
func (p *planner) addMentionNote() {
	o := &p.o
	if p.mentioned || (len(p.t.mentions) == 0 && !o.MentionAll && len(o.MentionMobiles) == 0) {
		return
	}
	note := p.msg.Title
	if note == "" {
		note = "⬆"
	}
	p.steps = append(p.steps, step{item: -1, last: true, text: note, kind: formatText, mention: true})
	p.mentioned = true
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

	media, err := c.openAll(ctx, msg, &o, steps)
	defer func() {
		for _, m := range media {
			m.Close()
		}
	}()
	if err != nil {
		return 0, err
	}
	if ctx, err = c.bookAll(ctx, msg, &o, steps, t); err != nil {
		return 0, err
	}
	var delivered []int
	sent := 0
	for i, s := range steps {
		if i < msg.Resume {
			// Delivered by an earlier try.
			sent++
			if s.last {
				delivered = append(delivered, s.items...)
			}
			continue
		}
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
			if sent == msg.Resume {
				err = fmt.Errorf("wecom: resuming after %d messages: %w", sent, err)
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

// bookAll books the slots of every message the push still takes at once,
// or none and nothing is sent; the context it returns says so to the
// requests.
func (c *Client) bookAll(ctx context.Context, msg *middleware.Message, o *Options, steps []step, t target) (context.Context, error) {
	k, atOnce, err := c.parts(msg, o, steps)
	if err != nil || !atOnce || k <= 1 {
		// One message books its own slot as its request leaves, as every
		// message of a push spread over windows does.
		return ctx, err
	}
	budgets := c.pace.budgets(t.chatID)
	for i := range budgets {
		budgets[i].Sends = k
	}
	if err := middleware.WaitTurn(ctx, c.limiter, IM, c.pace.reason, budgets); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, bookedKey{}, true), nil
}

// openAll opens every media item first: a source that is too large or
// unreachable fails the push before any message goes out. What it opened
// is returned even with an error, for the caller to close.
func (c *Client) openAll(ctx context.Context, msg *middleware.Message, o *Options, steps []step) (map[int]*openedMedia, error) {
	var media map[int]*openedMedia // nil for a text push: nothing allocated
	for _, s := range steps {
		if s.kind != "media" {
			continue
		}
		if media == nil {
			media = make(map[int]*openedMedia)
		}
		om, err := c.openMedia(ctx, msg, s.item)
		if err != nil {
			return media, err
		}
		media[s.item] = om
		if o.PostID != "" && om.route != "image" {
			return media, fmt.Errorf("%w: wecom: item %d goes as a %s (not a JPG or PNG of at most 2 MB), which a blackboard post does not take",
				middleware.ErrUnsupported, s.item, om.route)
		}
	}
	return media, nil
}

// sendText sends one text or markdown step; the step marked mention
// carries the mention lists.
func (c *Client) sendText(ctx context.Context, msg *middleware.Message, o *Options, t target, s step) error {
	env := &envelope{ChatID: t.chatID, MsgType: s.kind, PostID: o.PostID, VisibleToUser: strings.Join(o.VisibleTo, "|")}
	switch s.kind {
	case formatText:
		tc := &textContent{Content: s.text}
		if s.mention {
			tc.MentionedList = append(tc.MentionedList, t.mentions...)
			if o.MentionAll {
				tc.MentionedList = append(tc.MentionedList, "@all")
			}
			tc.MentionedMobileList = o.MentionMobiles
		}
		env.Text = tc
	case formatMarkdown:
		env.Markdown = &mdContent{Content: s.text, AtShortName: o.AtShortName}
		if s.last {
			env.Markdown.Attachments = withButtonType(o.Buttons)
		}
	case formatMarkdownV2:
		env.MarkdownV2 = &mdV2Content{Content: s.text}
	}
	body, err := marshalBody(env, msg.Fields)
	if err != nil {
		return err
	}
	_, err = c.sendBody(ctx, env.ChatID, body)
	return err
}

// isMediaExpired reports a send refused for an unknown or expired media_id
// (40007): the upload is done again, once.
func isMediaExpired(err error) bool {
	var api *middleware.APIError
	return errors.As(err, &api) && api.Code == 40007
}

// validateAttachments checks markdown buttons against WeCom's limits:
// "一个attachment中最多支持20个action", per attachment.
func validateAttachments(as []Attachment) error {
	for i, a := range as {
		if len(a.Actions) > maxActions {
			return fmt.Errorf("%w: wecom: attachment %d has %d button actions; at most %d per attachment", middleware.ErrTooLarge, i, len(a.Actions), maxActions)
		}
		for j, act := range a.Actions {
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
