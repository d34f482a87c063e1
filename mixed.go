package middleware

import "context"

// PushMixed sends items (text, markdown, image, voice, video, file) as one
// push. Every item is checked before anything is sent: an unknown type, a
// text item without text, or a media item without a usable source is
// ErrInvalidItem naming its index. (autClaw drops such items silently.)
// How the items travel is the backend's: TIM sends one message holding them
// all; WeCom sends them in order and reports a *PartialError when it stops
// part-way.
func (c *Client) PushMixed(ctx context.Context, imType, groupCode, userID, title string, items []Item, opts ...Option) (int, error) {
	return c.Do(ctx, Request{Helper: HelperMixed, IM: imType, GroupCode: groupCode, UserID: userID, Title: title, Items: items, Options: opts})
}
