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
	return c.Do(ctx, Request{Helper: HelperPush, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: content, Options: opts})
}

// PushImage sends the image at imageURL: an http(s) URL, a local path, a
// file:// URL, "base64://..." or a data URI.
func (c *Client) PushImage(ctx context.Context, imType, groupCode, userID, title, imageURL string, opts ...Option) (int, error) {
	return c.Do(ctx, Request{Helper: HelperImage, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: imageURL, Options: opts})
}

// PushVoice sends the audio at voiceURL (same source forms as PushImage).
func (c *Client) PushVoice(ctx context.Context, imType, groupCode, userID, title, voiceURL string, opts ...Option) (int, error) {
	return c.Do(ctx, Request{Helper: HelperVoice, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: voiceURL, Options: opts})
}

// PushVideo sends the video at videoURL (same source forms as PushImage).
func (c *Client) PushVideo(ctx context.Context, imType, groupCode, userID, title, videoURL string, opts ...Option) (int, error) {
	return c.Do(ctx, Request{Helper: HelperVideo, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: videoURL, Options: opts})
}

// PushFile sends the file at fileURL (same source forms as PushImage). Use
// WithFilename and WithMIME to set what the recipient sees.
func (c *Client) PushFile(ctx context.Context, imType, groupCode, userID, title, fileURL string, opts ...Option) (int, error) {
	return c.Do(ctx, Request{Helper: HelperFile, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Content: fileURL, Options: opts})
}

// start sends cl, or refuses it with err, what checking its arguments
// found.
func (c *Client) start(ctx context.Context, cl *call, err error) (int, error) {
	if err != nil {
		return c.refuse(ctx, cl, err)
	}
	return c.send(ctx, cl)
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
