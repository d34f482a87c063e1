package timchat

import (
	"fmt"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/extras"
)

// Condition narrows a broadcast to users with some tags or attributes.
// Exactly one of its fields may be set; none broadcasts to every user.
type Condition struct {
	TagsOr   []string          `json:"TagsOr,omitempty"`
	TagsAnd  []string          `json:"TagsAnd,omitempty"`
	AttrsOr  map[string]string `json:"AttrsOr,omitempty"`
	AttrsAnd map[string]string `json:"AttrsAnd,omitempty"`
}

func (c *Condition) empty() bool {
	return c == nil || len(c.TagsOr)+len(c.TagsAnd)+len(c.AttrsOr)+len(c.AttrsAnd) == 0
}

// validate checks the limits the server enforces (90020, 90022, 90032,
// 90039, 90040), so a bad condition fails before any I/O.
func (c *Condition) validate() error {
	if c == nil {
		return nil
	}
	kinds := 0
	for _, n := range []int{len(c.TagsOr), len(c.TagsAnd), len(c.AttrsOr), len(c.AttrsAnd)} {
		if n > 0 {
			kinds++
		}
	}
	if kinds > 1 {
		return fmt.Errorf("%w: timchat: a broadcast Condition takes one of TagsOr, TagsAnd, AttrsOr, AttrsAnd", middleware.ErrInvalidTarget)
	}
	for _, tags := range [][]string{c.TagsOr, c.TagsAnd} {
		if len(tags) > 10 {
			return fmt.Errorf("%w: timchat: %d tags; at most 10", middleware.ErrInvalidTarget, len(tags))
		}
		seen := map[string]bool{}
		for i, t := range tags {
			switch {
			case t == "":
				return fmt.Errorf("%w: timchat: tag %d is empty", middleware.ErrInvalidTarget, i)
			case len(t) > 50:
				return fmt.Errorf("%w: timchat: tag %d is %d bytes; at most 50", middleware.ErrInvalidTarget, i, len(t))
			case seen[t]:
				return fmt.Errorf("%w: timchat: tag %q repeated", middleware.ErrInvalidTarget, t)
			}
			seen[t] = true
		}
	}
	return nil
}

// readOpts gathers this backend's options from Message.Extras.
func readOpts(x []any) Options { return extras.Read[Options](x) }

func backendOpt(set func(*Options)) middleware.Option { return extras.Option(set) }

// Broadcast sends with v4/timpush/push to every user, or to those matching
// cond (nil for all). It needs empty groupCode and userID, and pushes are
// kept more than a second apart. Default: no broadcast; no target is
// ErrInvalidTarget.
func Broadcast(cond *Condition) middleware.Option {
	return backendOpt(func(o *Options) { o.Broadcast, o.Condition = true, cond })
}

// Thumbnail sets the picture of a video (required by TIM), from any source
// form PushImage takes. Default: none, and a video push is ErrInvalidItem.
func Thumbnail(source string) middleware.Option {
	return backendOpt(func(o *Options) { o.Thumbnail = source })
}

// SplitMixed makes PushMixed send one message per media item (each with the
// text before it) for clients that render only the first element. Default:
// one message holding every item, delivered together or not at all.
func SplitMixed() middleware.Option {
	return backendOpt(func(o *Options) { o.SplitMixed = true })
}

// OnlineOnly delivers only to users online now, without roaming storage or
// unread counts (OnlineOnlyFlag 1). Default: stored.
func OnlineOnly() middleware.Option {
	return backendOpt(func(o *Options) { o.OnlineOnly = true })
}

// OfflinePush sets the offline push info. Default: Title from the helper's
// title, Desc "[Image]", "[Voice]", ... for media.
func OfflinePush(info OfflinePushInfo) middleware.Option {
	return backendOpt(func(o *Options) { o.OfflinePush = &info })
}

// CloudCustomData attaches app data to the message. Default: none.
func CloudCustomData(data string) middleware.Option {
	return backendOpt(func(o *Options) { o.CloudCustomData = data })
}

// MsgLifeTime keeps a one-to-one message for offline users for d (at most
// 7 days; 0 delivers to online users only). Default: the server's 7 days.
func MsgLifeTime(d time.Duration) middleware.Option {
	return backendOpt(func(o *Options) { o.MsgLifeTime = &d })
}

// FromAccount sends as another existing account instead of the admin.
// Default: the admin of the Config.
func FromAccount(id string) middleware.Option {
	return backendOpt(func(o *Options) { o.FromAccount = id })
}

// VoiceSeconds sets the duration of a voice message. Default: 0 (unknown).
func VoiceSeconds(n int) middleware.Option {
	return backendOpt(func(o *Options) { o.VoiceSeconds = n })
}

// VideoSeconds sets the duration of a video. Default: 0 (unknown).
func VideoSeconds(n int) middleware.Option {
	return backendOpt(func(o *Options) { o.VideoSeconds = n })
}

// Options is what this backend's options ask for, as plain values: the
// options set its fields, Send reads them, an outbox stores them as they
// are (their JSON is the stored form: add fields, never rename them), and
// tests of bot code read them back with OptionsOf.
type Options struct {
	// Broadcast is set by Broadcast, with its Condition (nil: everyone).
	Broadcast bool
	Condition *Condition
	// Thumbnail, SplitMixed, OnlineOnly, CloudCustomData, FromAccount,
	// VoiceSeconds and VideoSeconds are set by their options.
	Thumbnail       string
	SplitMixed      bool
	OnlineOnly      bool
	CloudCustomData string
	FromAccount     string
	VoiceSeconds    int
	VideoSeconds    int
	// OfflinePush and MsgLifeTime are nil unless their options were given.
	OfflinePush *OfflinePushInfo
	MsgLifeTime *time.Duration
}

// OptionsOf reads back the timchat options of m, such as a message
// recorded by imtest.Recorder, so that a test can check that Broadcast or
// OnlineOnly was asked for. Options of other backends are ignored.
func OptionsOf(m *middleware.Message) Options { return readOpts(m.Extras) }
