package middleware

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Push sends text with Default(). See Client.Push.
func Push(ctx context.Context, imType, groupCode, userID, title, content string, opts ...Option) (int, error) {
	return Default().Push(ctx, imType, groupCode, userID, title, content, opts...)
}

// PushImage sends an image with Default(). See Client.PushImage.
func PushImage(ctx context.Context, imType, groupCode, userID, title, imageURL string, opts ...Option) (int, error) {
	return Default().PushImage(ctx, imType, groupCode, userID, title, imageURL, opts...)
}

// PushVoice sends a voice message with Default(). See Client.PushVoice.
func PushVoice(ctx context.Context, imType, groupCode, userID, title, voiceURL string, opts ...Option) (int, error) {
	return Default().PushVoice(ctx, imType, groupCode, userID, title, voiceURL, opts...)
}

// PushVideo sends a video with Default(). See Client.PushVideo.
func PushVideo(ctx context.Context, imType, groupCode, userID, title, videoURL string, opts ...Option) (int, error) {
	return Default().PushVideo(ctx, imType, groupCode, userID, title, videoURL, opts...)
}

// PushFile sends a file with Default(). See Client.PushFile.
func PushFile(ctx context.Context, imType, groupCode, userID, title, fileURL string, opts ...Option) (int, error) {
	return Default().PushFile(ctx, imType, groupCode, userID, title, fileURL, opts...)
}

// PushMixed sends several items as one push with Default(). See
// Client.PushMixed.
func PushMixed(ctx context.Context, imType, groupCode, userID, title string, items []Item, opts ...Option) (int, error) {
	return Default().PushMixed(ctx, imType, groupCode, userID, title, items, opts...)
}

// Push sends text to a group (groupCode) or a user (userID) of imType, from
// the account chosen by Resolve's rules. An empty content falls back to
// title; both empty is ErrInvalidItem. It returns how many targets were
// reached; err == nil implies n >= 1.
func (c *Client) Push(ctx context.Context, imType, groupCode, userID, title, content string, opts ...Option) (int, error) {
	cl := &call{helper: "push", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return c.start(ctx, cl, cl.textItem(content))
}

// PushImage sends the image at imageURL: an http(s) URL, a local path, a
// file:// URL, "base64://..." or a data URI.
func (c *Client) PushImage(ctx context.Context, imType, groupCode, userID, title, imageURL string, opts ...Option) (int, error) {
	cl := &call{helper: "pushImage", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return c.start(ctx, cl, cl.mediaItem(ImageItem, "imageURL", imageURL))
}

// PushVoice sends the audio at voiceURL (same source forms as PushImage).
func (c *Client) PushVoice(ctx context.Context, imType, groupCode, userID, title, voiceURL string, opts ...Option) (int, error) {
	cl := &call{helper: "pushVoice", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return c.start(ctx, cl, cl.mediaItem(VoiceItem, "voiceURL", voiceURL))
}

// PushVideo sends the video at videoURL (same source forms as PushImage).
func (c *Client) PushVideo(ctx context.Context, imType, groupCode, userID, title, videoURL string, opts ...Option) (int, error) {
	cl := &call{helper: "pushVideo", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return c.start(ctx, cl, cl.mediaItem(VideoItem, "videoURL", videoURL))
}

// PushFile sends the file at fileURL (same source forms as PushImage). Use
// WithFilename and WithMIME to set what the recipient sees.
func (c *Client) PushFile(ctx context.Context, imType, groupCode, userID, title, fileURL string, opts ...Option) (int, error) {
	cl := &call{helper: "pushFile", imType: imType, groupCode: groupCode, userID: userID, title: title, opts: opts}
	return c.start(ctx, cl, cl.mediaItem(FileItem, "fileURL", fileURL))
}

// start sends cl, or refuses it with err, what checking its arguments
// found.
func (c *Client) start(ctx context.Context, cl *call, err error) (int, error) {
	if err != nil {
		return c.refuse(ctx, cl, err)
	}
	return c.send(ctx, cl)
}

// textItem makes content, else title, the call's one text item. Both empty
// is ErrInvalidItem.
func (cl *call) textItem(content string) error {
	text := content
	if text == "" {
		text = cl.title
	}
	if text == "" {
		return fmt.Errorf("%w: content and title are both empty", ErrInvalidItem)
	}
	cl.items = []Item{{Type: TextItem, Text: text}}
	return nil
}

// mediaItem makes src, the helper's argument named arg, the call's one
// media item of type t. A blank src is ErrInvalidItem.
func (cl *call) mediaItem(t ItemType, arg, src string) error {
	if strings.TrimSpace(src) == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidItem, arg)
	}
	cl.items = []Item{{Type: t, Source: src}}
	return nil
}

// mixedItems makes items the call's items. None is ErrInvalidItem.
func (cl *call) mixedItems(items []Item) error {
	if len(items) == 0 {
		return fmt.Errorf("%w: items is empty", ErrInvalidItem)
	}
	cl.items = items
	return nil
}

// refuse logs and returns a failure found before send could start.
func (c *Client) refuse(ctx context.Context, cl *call, err error) (int, error) {
	if ctx == nil {
		err = errNilContext
	}
	err = prefix(cl, err)
	c.logPush(ctx, cl, 0, err, 0)
	if c.observer != nil && ctx != nil {
		_, end := c.observe(ctx, cl)
		end("", 0, err)
	}
	return 0, err
}

// validateTargets refuses empty ids in a "|"-joined list. Whether no target
// at all is valid is the backend's call.
func validateTargets(groupCode, userID string) error {
	for _, t := range []struct{ arg, v string }{{"groupCode", groupCode}, {"userID", userID}} {
		if t.v == "" {
			continue
		}
		if !utf8.ValidString(t.v) {
			// Sent garbled, an id could name another recipient.
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidTarget, t.arg)
		}
		rest := t.v
		for i := 0; ; i++ {
			id, more, found := strings.Cut(rest, "|")
			if strings.TrimSpace(id) == "" {
				return fmt.Errorf("%w: %s: id %d of %q is empty", ErrInvalidTarget, t.arg, i, t.v)
			}
			if !found {
				break
			}
			rest = more
		}
	}
	return nil
}
