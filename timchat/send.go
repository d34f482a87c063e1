package timchat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/jsonx"
)

// Limits of the REST API.
const (
	BatchLimit  = 500      // recipients per batchsendmsg
	BodyLimit   = 12 << 10 // bytes of message content
	MaxLifeTime = 7 * 24 * time.Hour
	// pushGap is the one spacing the client keeps between timpush/push
	// calls, and waits after TIM refuses one for coming too soon: TIM wants
	// them more than a second apart; the 100 ms is room for the requests'
	// own jitter.
	pushGap = time.Second + 100*time.Millisecond
)

// groupAt mentions a group member (or everyone) in a group message.
type groupAt struct {
	GroupAtAllFlag int    `json:"GroupAtAllFlag"`
	GroupAtAccount string `json:"GroupAt_Account,omitempty"`
}

type c2cBody struct {
	SyncOtherMachine int              `json:"SyncOtherMachine,omitempty"`
	FromAccount      string           `json:"From_Account,omitempty"`
	ToAccount        any              `json:"To_Account"`
	MsgLifeTime      *int64           `json:"MsgLifeTime,omitempty"`
	MsgSeq           uint32           `json:"MsgSeq"`
	MsgRandom        uint32           `json:"MsgRandom"`
	MsgBody          []Element        `json:"MsgBody"`
	CloudCustomData  string           `json:"CloudCustomData,omitempty"`
	OfflinePushInfo  *OfflinePushInfo `json:"OfflinePushInfo,omitempty"`
}

type groupBody struct {
	GroupID         string           `json:"GroupId"`
	Random          uint32           `json:"Random"`
	FromAccount     string           `json:"From_Account,omitempty"`
	MsgBody         []Element        `json:"MsgBody"`
	OnlineOnlyFlag  int              `json:"OnlineOnlyFlag,omitempty"`
	GroupAtInfo     []groupAt        `json:"GroupAtInfo,omitempty"`
	CloudCustomData string           `json:"CloudCustomData,omitempty"`
	OfflinePushInfo *OfflinePushInfo `json:"OfflinePushInfo,omitempty"`
}

type pushBody struct {
	FromAccount     string           `json:"From_Account,omitempty"`
	MsgRandom       uint32           `json:"MsgRandom"`
	OnlineOnlyFlag  int              `json:"OnlineOnlyFlag"`
	Condition       *Condition       `json:"Condition,omitempty"`
	MsgBody         []Element        `json:"MsgBody"`
	OfflinePushInfo *OfflinePushInfo `json:"OfflinePushInfo,omitempty"`
}

// Validate checks msg without I/O: target, broadcast condition, media that
// would need an uploader, video thumbnails, sizes.
func (c *Client) Validate(msg *middleware.Message) error {
	o := readOpts(msg.Extras)
	return c.validate(msg, &o)
}

func (c *Client) validate(msg *middleware.Message, o *Options) error {
	if msg.Resume != 0 { // laid out again only to check a resume: send lays them out itself
		if n := len(batches(msg, o)); msg.Resume < 0 || msg.Resume >= n {
			return fmt.Errorf("%w: timchat: resume after %d messages, and the push takes %d", middleware.ErrInvalidOption, msg.Resume, n)
		}
	}
	groups, users := msg.Groups(), msg.Users()
	switch {
	case o.Broadcast && (len(groups) > 0 || len(users) > 0):
		return fmt.Errorf("%w: timchat: Broadcast goes to all users; leave groupCode and userID empty", middleware.ErrInvalidTarget)
	case !o.Broadcast && len(groups) == 0 && len(users) == 0:
		return fmt.Errorf("%w: timchat: no groupCode or userID (use timchat.Broadcast to push to all users)", middleware.ErrInvalidTarget)
	}
	if err := o.Condition.validate(); err != nil {
		return err
	}
	if o.MsgLifeTime != nil && (*o.MsgLifeTime < 0 || *o.MsgLifeTime > MaxLifeTime) {
		return fmt.Errorf("%w: timchat: MsgLifeTime %s is outside 0..7 days", middleware.ErrInvalidItem, *o.MsgLifeTime)
	}
	textBytes := 0
	for i, it := range msg.Items {
		if !it.Type.IsMedia() {
			textBytes += len(it.Text)
			continue
		}
		textBytes += len(it.Caption)
		if err := c.validateMedia(msg, o, i, it); err != nil {
			return err
		}
	}
	if textBytes > BodyLimit {
		return fmt.Errorf("%w: timchat: %d bytes of text; a message holds at most %d", middleware.ErrTooLarge, textBytes, BodyLimit)
	}
	return nil
}

// validateMedia checks that media item i can be hosted, and that a video
// has a thumbnail that can be.
func (c *Client) validateMedia(msg *middleware.Message, o *Options, i int, it middleware.Item) error {
	if !isRemote(it.Source) && c.uploader == nil {
		return noUploader(fmt.Sprintf("item %d", i))
	}
	if it.Type != middleware.VideoItem {
		return nil
	}
	thumb := thumbnailOf(it, o)
	if thumb == "" {
		return fmt.Errorf("%w: timchat: item %d: a TIM video needs a thumbnail: set Item.Cover, or add timchat.Thumbnail(source)", middleware.ErrInvalidItem, i)
	}
	if err := msg.CheckSource(middleware.Item{Type: middleware.ImageItem, Source: thumb}); err != nil {
		return fmt.Errorf("timchat: thumbnail of item %d: %w", i, err)
	}
	if !isRemote(thumb) && c.uploader == nil {
		return noUploader(fmt.Sprintf("the thumbnail of item %d", i))
	}
	return nil
}

// thumbnailOf is a video item's thumbnail: its Cover, else the push's
// Thumbnail option.
func thumbnailOf(it middleware.Item, o *Options) string {
	if it.Cover != "" {
		return it.Cover
	}
	return o.Thumbnail
}

func noUploader(what string) error {
	return fmt.Errorf("%w: timchat: %s is not an http(s) URL, and TIM only takes media by URL: "+
		"host it with timchat.WithUploader (for example timchat.PresignedPutUploader)", middleware.ErrUnsupported, what)
}

func isRemote(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// Send delivers msg and returns how many groups or users it reached. A
// failure part-way returns the count with a *middleware.PartialError whose
// MaybeDelivered and FailedTargets say what may have arrived.
func (c *Client) Send(ctx context.Context, msg *middleware.Message) (int, error) {
	if ctx == nil {
		return 0, errors.New("timchat: nil context")
	}
	n, err := c.send(ctx, msg)
	return n, c.redact(err)
}

func (c *Client) send(ctx context.Context, msg *middleware.Message) (int, error) {
	o := readOpts(msg.Extras)
	if err := c.validate(msg, &o); err != nil {
		return 0, err
	}
	elems, descs, err := c.elements(ctx, msg, &o)
	if err != nil {
		return 0, err
	}

	all := batches(msg, &o)
	var delivered []int
	reached := 0
	for bi, batch := range all {
		if bi < msg.Resume {
			delivered = append(delivered, batch...) // delivered by an earlier try
			continue
		}
		var body []Element
		var desc []string
		for _, i := range batch {
			body = append(body, elems[i]...)
			desc = append(desc, descs[i])
		}
		n, failed, err := c.deliver(ctx, msg, &o, strconv.Itoa(bi), body, c.offline(msg, &o, desc))
		if err == nil && len(failed) == 0 {
			delivered = append(delivered, batch...)
			reached = n
			continue
		}
		if bi == 0 && n == 0 && !mixedFates(failed) {
			return 0, err
		}
		if n > 0 && bi == 0 {
			reached = n
		}
		return reached, partial(delivered, batch, bi, n, failed, err)
	}
	return reached, nil
}

// batches says which items travel together: all in one message, or with
// SplitMixed one message per media item with the text before it.
func batches(msg *middleware.Message, o *Options) [][]int {
	out := [][]int{}
	var cur []int
	for i, it := range msg.Items {
		cur = append(cur, i)
		if o.SplitMixed && it.Type.IsMedia() {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// partial says how far a push got when batch number bi, after the items
// delivered, reached n targets and failed for the others (or err).
func partial(delivered, batch []int, bi, n int, failed []middleware.TargetFailure, err error) *middleware.PartialError {
	pe := &middleware.PartialError{DeliveredItems: delivered, FailedItem: -1, FailedTargets: failed, SentParts: bi, Err: err}
	if n > 0 {
		pe.SentParts++
		pe.DeliveredItems = append(pe.DeliveredItems, batch...)
	}
	if err != nil && n == 0 {
		pe.FailedItem = batch[0]
		pe.MaybeDelivered = errors.Is(err, middleware.ErrMaybeDelivered)
	}
	return pe
}

// mixedFates reports whether some targets surely failed and others may
// have been delivered: one error cannot say both, a *PartialError can.
func mixedFates(failed []middleware.TargetFailure) bool {
	maybe, surely := false, false
	for _, f := range failed {
		maybe = maybe || f.MaybeDelivered
		surely = surely || !f.MaybeDelivered
	}
	return maybe && surely
}

// offline fills OfflinePushInfo: the helper's title, and for media a
// description such as "[Image]", unless the caller set them.
func (c *Client) offline(msg *middleware.Message, o *Options, descs []string) *OfflinePushInfo {
	info := OfflinePushInfo{}
	if o.OfflinePush != nil {
		info = *o.OfflinePush
	}
	if info.Title == "" {
		info.Title = msg.Title
	}
	if info.Desc == "" {
		var media []string
		for _, d := range descs {
			if d != "" {
				media = append(media, d)
			}
		}
		info.Desc = strings.Join(media, " ")
	}
	if o.OfflinePush == nil && info.Title == "" && info.Desc == "" {
		return nil
	}
	return &info
}

// deliver sends one message, part of the push, to every target. It returns
// how many targets got it and which did not.
func (c *Client) deliver(ctx context.Context, msg *middleware.Message, o *Options, part string, body []Element, offline *OfflinePushInfo) (int, []middleware.TargetFailure, error) {
	groups, users := msg.Groups(), msg.Users()
	switch {
	case o.Broadcast:
		return c.broadcast(ctx, msg, o, part, body, offline)
	case len(groups) > 0:
		var at []groupAt
		for _, u := range users {
			at = append(at, groupAt{GroupAtAccount: u})
		}
		return fanOut(groups, func(g string) error {
			b := groupBody{GroupID: g, Random: dedup(msg, "Random", g, part), FromAccount: o.FromAccount, MsgBody: body,
				GroupAtInfo: at, CloudCustomData: o.CloudCustomData, OfflinePushInfo: offline}
			if o.OnlineOnly {
				b.OnlineOnlyFlag = 1
			}
			_, err := c.post(ctx, "group_open_http_svc/send_group_msg", b, msg.Fields)
			return err
		})
	case len(users) == 1:
		b := c.c2c(msg, o, users[0], users[0], part, body, offline)
		if _, err := c.post(ctx, "openim/sendmsg", b, msg.Fields); err != nil {
			return 0, nil, err
		}
		return 1, nil, nil
	default:
		return c.batch(ctx, msg, o, part, users, body, offline)
	}
}

// c2c builds a one-to-one body to to (one id or many), whose dedup fields
// name the target and the part of the push.
func (c *Client) c2c(msg *middleware.Message, o *Options, to any, target, part string, body []Element, offline *OfflinePushInfo) c2cBody {
	b := c2cBody{FromAccount: o.FromAccount, ToAccount: to, MsgBody: body, CloudCustomData: o.CloudCustomData, OfflinePushInfo: offline,
		MsgSeq: dedup(msg, "MsgSeq", target, part), MsgRandom: dedup(msg, "MsgRandom", target, part)}
	switch {
	case o.MsgLifeTime != nil:
		s := int64(*o.MsgLifeTime / time.Second)
		b.MsgLifeTime = &s
	case o.OnlineOnly:
		zero := int64(0)
		b.MsgLifeTime = &zero
	}
	return b
}

// fanOut sends to each id in turn and gathers the failures. The error it
// returns is the first that may have been delivered, else the first.
func fanOut(ids []string, send func(id string) error) (int, []middleware.TargetFailure, error) {
	var failed []middleware.TargetFailure
	var first error
	for _, id := range ids {
		if err := send(id); err != nil {
			first = worse(first, err)
			failed = append(failed, failure(id, err))
		}
	}
	return len(ids) - len(failed), failed, first
}

// failure is a target that err did not reach, or may have.
func failure(id string, err error) middleware.TargetFailure {
	return middleware.TargetFailure{ID: id, Code: codeOf(err), MaybeDelivered: errors.Is(err, middleware.ErrMaybeDelivered)}
}

// worse keeps the error to report of two: one that may have been
// delivered beats one that surely was not, so a caller never reads "not
// sent" for a message that may be in the chat.
func worse(first, err error) error {
	if first == nil || (errors.Is(err, middleware.ErrMaybeDelivered) && !errors.Is(first, middleware.ErrMaybeDelivered)) {
		return err
	}
	return first
}

// batch sends to many users, BatchLimit per call, and reads every
// ErrorList: ErrorCode is 0 when any recipient succeeded.
func (c *Client) batch(ctx context.Context, msg *middleware.Message, o *Options, part string, users []string, body []Element, offline *OfflinePushInfo) (int, []middleware.TargetFailure, error) {
	var failed []middleware.TargetFailure
	var first error
	for start := 0; start < len(users); start += BatchLimit {
		chunk := users[start:min(start+BatchLimit, len(users))]
		r, err := c.post(ctx, "openim/batchsendmsg", c.c2c(msg, o, chunk, "batch "+strconv.Itoa(start), part, body, offline), msg.Fields)
		if err != nil {
			first = worse(first, err)
			for _, u := range chunk {
				failed = append(failed, failure(u, err))
			}
			continue
		}
		for _, e := range r.ErrorList {
			if e.ErrorCode != 0 {
				failed = append(failed, middleware.TargetFailure{ID: e.ToAccount, Code: e.ErrorCode})
			}
		}
	}
	if len(failed) > 0 && first == nil {
		first = apiError(failed[0].Code, fmt.Sprintf("%d of %d recipients failed", len(failed), len(users)), 200)
	}
	return len(users) - len(failed), failed, first
}

// broadcast sends with timpush/push, keeping calls more than a second
// apart per app: it waits for the gap if the deadline allows, else fails
// with a *middleware.LimitError without sending.
func (c *Client) broadcast(ctx context.Context, msg *middleware.Message, o *Options, part string, body []Element, offline *OfflinePushInfo) (int, []middleware.TargetFailure, error) {
	if err := middleware.WaitTurn(ctx, c.limiter, IM, "broadcasts must be more than a second apart", c.pushBudget); err != nil {
		return 0, nil, err
	}
	b := pushBody{FromAccount: o.FromAccount, MsgRandom: dedup(msg, "push", part), MsgBody: body, OfflinePushInfo: offline}
	if !o.Condition.empty() {
		b.Condition = o.Condition
	}
	if o.OnlineOnly {
		b.OnlineOnlyFlag = 1
	}
	if _, err := c.post(ctx, "timpush/push", b, msg.Fields); err != nil {
		return 0, nil, err
	}
	return 1, nil, nil
}

// post encodes v with the caller's fields, calls api and returns its
// answer.
func (c *Client) post(ctx context.Context, api string, v any, fields map[string]any) (*reply, error) {
	body, err := jsonx.Marshal(v, fields)
	if err != nil {
		return nil, fmt.Errorf("timchat: %w", err)
	}
	return c.call(ctx, api, body)
}

func codeOf(err error) int {
	var api *middleware.APIError
	if errors.As(err, &api) {
		return api.Code
	}
	return -1
}
