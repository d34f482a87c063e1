package wecom

import (
	"context"
	"fmt"
	"strings"

	"github.com/imbridge/middleware"
)

// MiniProgramTitleLimit is the longest mini-program title, in bytes.
const MiniProgramTitleLimit = 64

// MiniProgram is a mini-program card (msgtype miniprogram).
type MiniProgram struct {
	// Title is required, at most 64 bytes.
	Title string
	// AppID is the mini-program's appid; it must be linked to the
	// enterprise.
	AppID string
	// Page is the page path the card opens.
	Page string
	// PicMediaID is the cover as the media_id of an earlier upload of an
	// image. Give PicMediaID or Cover.
	PicMediaID string
	// Cover is the cover as a source (an http(s) URL, a local path,
	// base64:// or a data: URI, read as a trusted source) that
	// SendMiniProgram uploads, reusing an upload of the same image within
	// its three days. WeCom suggests 520×416.
	Cover string
}

type miniProgramContent struct {
	Title      string `json:"title"`
	PicMediaID string `json:"pic_media_id"`
	AppID      string `json:"appid"`
	Page       string `json:"page"`
}

// Validate checks mp against WeCom's documented limits, without I/O.
func (mp MiniProgram) Validate() error {
	bad := func(kind error, format string, args ...any) error {
		return fmt.Errorf("%w: wecom: mini-program: %s", kind, fmt.Sprintf(format, args...))
	}
	switch {
	case mp.Title == "":
		return bad(middleware.ErrInvalidItem, "Title is required")
	case len(mp.Title) > MiniProgramTitleLimit:
		return bad(middleware.ErrTooLarge, "Title is %d bytes; the limit is %d", len(mp.Title), MiniProgramTitleLimit)
	case mp.AppID == "" || mp.Page == "":
		return bad(middleware.ErrInvalidItem, "AppID and Page are required")
	case mp.PicMediaID == "" && mp.Cover == "":
		return bad(middleware.ErrInvalidItem, "a cover is required: PicMediaID or Cover")
	case mp.PicMediaID != "" && mp.Cover != "":
		return bad(middleware.ErrInvalidItem, "give PicMediaID or Cover, not both")
	}
	if mp.Cover != "" {
		return middleware.Item{Type: middleware.ImageItem, Source: mp.Cover}.Validate()
	}
	return nil
}

// SendMiniProgram sends a mini-program card to to. A Cover is uploaded
// first (as WeCom's "file" upload type, the one that takes images), then
// sent by its media_id; an id WeCom no longer knows (40007) is uploaded
// again once.
func (c *Client) SendMiniProgram(ctx context.Context, to Target, mp MiniProgram) (int, error) {
	if ctx == nil {
		return 0, errNilContext
	}
	if err := mp.Validate(); err != nil {
		return 0, err
	}
	env, n, err := to.envelope("miniprogram")
	if err != nil {
		return 0, err
	}
	content := &miniProgramContent{Title: mp.Title, PicMediaID: mp.PicMediaID, AppID: mp.AppID, Page: mp.Page}
	env.MiniProgram = content
	if mp.Cover == "" {
		return c.sendEnvelope(ctx, env, n)
	}
	msg := &middleware.Message{Items: []middleware.Item{{Type: middleware.ImageItem, Source: mp.Cover}}}
	md, err := msg.OpenMedia(ctx, 0, FileLimit)
	if err != nil {
		return 0, c.redact(fmt.Errorf("wecom: mini-program cover: %w", err))
	}
	defer md.Close()
	if !strings.HasPrefix(md.MIME, "image/") {
		return 0, fmt.Errorf("%w: wecom: mini-program cover is %s, not an image", middleware.ErrInvalidItem, md.MIME)
	}
	if err := checkUploadSize(0, middleware.ImageItem, md.Size); err != nil {
		return 0, err
	}
	for fresh := false; ; fresh = true {
		id, err := c.mediaID(ctx, md, "file", fresh)
		if err != nil {
			return 0, c.redact(fmt.Errorf("wecom: mini-program cover: %w", err))
		}
		content.PicMediaID = id
		n, err := c.sendEnvelope(ctx, env, n)
		if err == nil || fresh || !isMediaExpired(err) {
			return n, err
		}
	}
}
