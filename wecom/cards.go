package wecom

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/imbridge/middleware"
)

// Target addresses a typed send.
type Target struct {
	// ChatIDs are group, user or blackboard ids (at most 100); none means
	// the bot's own group.
	ChatIDs []string
	// VisibleTo limits the message to these members of a single group.
	VisibleTo []string
	// PostID posts into a blackboard post (one blackboard chatid). WeCom
	// takes only text, markdown and images there, so with the typed sends
	// (news, template cards, mini-programs) it is ErrUnsupported.
	PostID string
}

func (t Target) envelope(msgType string) (*envelope, int, error) {
	if len(t.ChatIDs) > maxChatIDs {
		return nil, 0, fmt.Errorf("%w: wecom: %d chat ids; at most %d", middleware.ErrInvalidTarget, len(t.ChatIDs), maxChatIDs)
	}
	for i, id := range t.ChatIDs {
		if strings.TrimSpace(id) == "" || strings.Contains(id, "|") {
			return nil, 0, fmt.Errorf("%w: wecom: chat id %d is empty or holds '|'", middleware.ErrInvalidTarget, i)
		}
		if !utf8.ValidString(id) {
			return nil, 0, fmt.Errorf("%w: wecom: chat id %d is not valid UTF-8", middleware.ErrInvalidTarget, i)
		}
	}
	if len(t.VisibleTo) > 0 && len(t.ChatIDs) != 1 {
		return nil, 0, fmt.Errorf("%w: wecom: VisibleTo needs exactly one chat id", middleware.ErrInvalidTarget)
	}
	if t.PostID != "" && len(t.ChatIDs) != 1 {
		return nil, 0, fmt.Errorf("%w: wecom: PostID needs exactly one blackboard chat id", middleware.ErrInvalidTarget)
	}
	if t.PostID != "" {
		// A blackboard post takes text, markdown and image messages only.
		return nil, 0, fmt.Errorf("%w: wecom: a blackboard post does not take %s messages", middleware.ErrUnsupported, msgType)
	}
	n := max(len(t.ChatIDs), 1)
	return &envelope{ChatID: strings.Join(t.ChatIDs, "|"), MsgType: msgType,
		VisibleToUser: strings.Join(t.VisibleTo, "|"), PostID: t.PostID}, n, nil
}

// Article is one entry of a news message.
type Article struct {
	// Title is required, at most 128 bytes.
	Title string `json:"title"`
	// Description is at most 512 bytes.
	Description string `json:"description,omitempty"`
	// URL is required: where a tap leads.
	URL string `json:"url"`
	// PicURL is a JPG or PNG shown with the article.
	PicURL string `json:"picurl,omitempty"`
}

// SendNews sends a news message of 1 to 8 articles. WeCom would truncate
// long titles and descriptions silently; here they are ErrTooLarge.
func (c *Client) SendNews(ctx context.Context, to Target, articles ...Article) (int, error) {
	if len(articles) < 1 || len(articles) > 8 {
		return 0, fmt.Errorf("%w: wecom: news takes 1 to 8 articles, got %d", middleware.ErrInvalidItem, len(articles))
	}
	for i, a := range articles {
		switch {
		case a.Title == "" || a.URL == "":
			return 0, fmt.Errorf("%w: wecom: article %d needs Title and URL", middleware.ErrInvalidItem, i)
		case len(a.Title) > 128:
			return 0, fmt.Errorf("%w: wecom: article %d title is %d bytes; the limit is 128", middleware.ErrTooLarge, i, len(a.Title))
		case len(a.Description) > 512:
			return 0, fmt.Errorf("%w: wecom: article %d description is %d bytes; the limit is 512", middleware.ErrTooLarge, i, len(a.Description))
		}
	}
	env, n, err := to.envelope("news")
	if err != nil {
		return 0, err
	}
	env.News = &newsContent{Articles: articles}
	return c.sendEnvelope(ctx, env, n)
}

// TemplateCard is a template_card message of type "text_notice" or
// "news_notice". CardAction is required; news_notice needs CardImage or
// ImageTextArea.
type TemplateCard struct {
	CardType              string            `json:"card_type"`
	Source                *CardSource       `json:"source,omitempty"`
	MainTitle             *CardTitle        `json:"main_title,omitempty"`
	EmphasisContent       *CardTitle        `json:"emphasis_content,omitempty"`
	QuoteArea             *QuoteArea        `json:"quote_area,omitempty"`
	SubTitleText          string            `json:"sub_title_text,omitempty"`
	HorizontalContentList []HorizontalEntry `json:"horizontal_content_list,omitempty"`
	JumpList              []Jump            `json:"jump_list,omitempty"`
	CardAction            *CardAction       `json:"card_action"`
	CardImage             *CardImage        `json:"card_image,omitempty"`
	ImageTextArea         *ImageTextArea    `json:"image_text_area,omitempty"`
	VerticalContentList   []CardTitle       `json:"vertical_content_list,omitempty"`
}

// CardSource is the card's source line.
type CardSource struct {
	IconURL string `json:"icon_url,omitempty"`
	Desc    string `json:"desc,omitempty"`
	// DescColor is 0 grey, 1 black, 2 red, 3 green.
	DescColor int `json:"desc_color,omitempty"`
}

// CardTitle is a title with a description.
type CardTitle struct {
	Title string `json:"title,omitempty"`
	Desc  string `json:"desc,omitempty"`
}

// QuoteArea is a quoted block; Type 0 none, 1 URL, 2 mini-program.
type QuoteArea struct {
	Type      int    `json:"type,omitempty"`
	URL       string `json:"url,omitempty"`
	AppID     string `json:"appid,omitempty"`
	PagePath  string `json:"pagepath,omitempty"`
	Title     string `json:"title,omitempty"`
	QuoteText string `json:"quote_text,omitempty"`
}

// HorizontalEntry is a key/value row; Type 0 text, 1 URL, 2 media_id,
// 3 @user.
type HorizontalEntry struct {
	KeyName string `json:"keyname"`
	Value   string `json:"value,omitempty"`
	Type    int    `json:"type,omitempty"`
	URL     string `json:"url,omitempty"`
	MediaID string `json:"media_id,omitempty"`
	UserID  string `json:"userid,omitempty"`
}

// Jump is a link at the bottom of the card; Type 1 URL, 2 mini-program.
type Jump struct {
	Type     int    `json:"type,omitempty"`
	Title    string `json:"title"`
	URL      string `json:"url,omitempty"`
	AppID    string `json:"appid,omitempty"`
	PagePath string `json:"pagepath,omitempty"`
}

// CardAction is what a tap on the card does; Type 1 URL, 2 mini-program.
type CardAction struct {
	Type     int    `json:"type"`
	URL      string `json:"url,omitempty"`
	AppID    string `json:"appid,omitempty"`
	PagePath string `json:"pagepath,omitempty"`
}

// CardImage is the picture of a news_notice card.
type CardImage struct {
	URL string `json:"url"`
	// AspectRatio is between 1.3 and 2.25; 0 lets WeCom choose.
	AspectRatio float64 `json:"aspect_ratio,omitempty"`
}

// ImageTextArea is the left-picture area of a news_notice card.
type ImageTextArea struct {
	Type     int    `json:"type,omitempty"`
	URL      string `json:"url,omitempty"`
	Title    string `json:"title,omitempty"`
	Desc     string `json:"desc,omitempty"`
	ImageURL string `json:"image_url"`
}

// Validate checks the card against WeCom's documented limits.
func (t *TemplateCard) Validate() error {
	if err := t.validateType(); err != nil {
		return err
	}
	return t.validateLimits()
}

func badCard(format string, args ...any) error {
	return fmt.Errorf("%w: wecom: template_card: %s", middleware.ErrInvalidItem, fmt.Sprintf(format, args...))
}

// validateType checks what each card type requires, and the card action
// every card needs.
func (t *TemplateCard) validateType() error {
	bad := badCard
	switch t.CardType {
	case "text_notice":
		if (t.MainTitle == nil || t.MainTitle.Title == "") && t.SubTitleText == "" {
			return bad("text_notice needs MainTitle.Title or SubTitleText")
		}
	case "news_notice":
		if t.CardImage == nil && t.ImageTextArea == nil {
			return bad("news_notice needs CardImage or ImageTextArea")
		}
		if t.MainTitle == nil || t.MainTitle.Title == "" {
			return bad("news_notice needs MainTitle.Title")
		}
	default:
		return bad("card_type %q is not text_notice or news_notice", t.CardType)
	}
	if t.CardAction == nil {
		return bad("CardAction is required")
	}
	if t.CardAction.Type == 1 && t.CardAction.URL == "" || t.CardAction.Type == 2 && t.CardAction.AppID == "" {
		return bad("CardAction of type %d lacks its URL or AppID", t.CardAction.Type)
	}
	return nil
}

// validateLimits checks the documented counts and ranges.
func (t *TemplateCard) validateLimits() error {
	bad := badCard
	if t.Source != nil && (t.Source.DescColor < 0 || t.Source.DescColor > 3) {
		return bad("Source.DescColor must be 0..3")
	}
	if n := len(t.HorizontalContentList); n > 6 {
		return bad("%d horizontal entries; at most 6", n)
	}
	if n := len(t.JumpList); n > 3 {
		return bad("%d jumps; at most 3", n)
	}
	if n := len(t.VerticalContentList); n > 4 {
		return bad("%d vertical entries; at most 4", n)
	}
	if t.CardImage != nil && t.CardImage.AspectRatio != 0 && (t.CardImage.AspectRatio < 1.3 || t.CardImage.AspectRatio > 2.25) {
		return bad("CardImage.AspectRatio %.2f is outside 1.3..2.25", t.CardImage.AspectRatio)
	}
	return nil
}

// SendTemplateCard sends a template_card message after validating it.
func (c *Client) SendTemplateCard(ctx context.Context, to Target, card *TemplateCard) (int, error) {
	if card == nil {
		return 0, fmt.Errorf("%w: wecom: nil template card", middleware.ErrInvalidItem)
	}
	if err := card.Validate(); err != nil {
		return 0, err
	}
	env, n, err := to.envelope("template_card")
	if err != nil {
		return 0, err
	}
	env.TemplateCard = card
	return c.sendEnvelope(ctx, env, n)
}

func (c *Client) sendEnvelope(ctx context.Context, env *envelope, n int) (int, error) {
	if ctx == nil {
		return 0, errNilContext
	}
	if field, ok := invalidUTF8(env); ok {
		return 0, fmt.Errorf("%w: wecom: %s is not valid UTF-8", middleware.ErrInvalidItem, field)
	}
	body, err := marshalBody(env, nil)
	if err != nil {
		return 0, err
	}
	if _, err := c.sendBody(ctx, env.ChatID, body); err != nil {
		return 0, c.redact(err)
	}
	return n, nil
}
