package middleware

import (
	"context"
	"fmt"
)

// PushMixed sends items (text, markdown, image, voice, video, file) as one
// push. Every item is checked before anything is sent: an unknown type, a
// text item without text, or a media item without a usable source is
// ErrInvalidItem naming its index. (autClaw drops such items silently.)
// How the items travel is the backend's: TIM sends one message holding them
// all; WeCom sends them in order and reports a *PartialError when it stops
// part-way.
func (c *Client) PushMixed(ctx context.Context, imType, groupCode, userID, title string, items []Item, opts ...Option) (int, error) {
	if len(items) == 0 {
		return c.refuse(ctx, "pushMixed", imType, groupCode, userID, fmt.Errorf("%w: items is empty", ErrInvalidItem))
	}
	return c.send(ctx, "pushMixed", imType, groupCode, userID, title, items, opts)
}

// prepareItems checks every item and opens media sources without network
// I/O (local files are stat-ed, inline base64 is decoded).
func prepareItems(items []Item, cfg *callConfig) ([]*source, error) {
	sources := make([]*source, len(items))
	var media int
	for i, it := range items {
		switch {
		case !it.Type.valid():
			return nil, fmt.Errorf("%w: item %d: unknown type %q", ErrInvalidItem, i, it.Type)
		case !it.Type.IsMedia():
			if it.Text == "" {
				return nil, fmt.Errorf("%w: item %d: %s item has no text", ErrInvalidItem, i, it.Type)
			}
			if it.Source != "" || it.Data != nil {
				return nil, fmt.Errorf("%w: item %d: %s item has a media source; set Type to the media kind", ErrInvalidItem, i, it.Type)
			}
		default:
			media++
			src, err := prepareSource(it)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			sources[i] = src
		}
	}
	if media > 1 && (cfg.filename != "" || cfg.mime != "") {
		return nil, fmt.Errorf("%w: WithFilename/WithMIME name one media item, but the message has %d: set Item.Name and Item.MIME instead", ErrInvalidItem, media)
	}
	return sources, nil
}

// ValidateItem checks one item as PushMixed does, without network I/O:
// its type, its text, and that a media source is well formed (a local file
// exists, inline base64 decodes). Backends use it for media that travel
// outside Message.Items, such as a video thumbnail.
func ValidateItem(it Item) error {
	_, err := prepareItems([]Item{it}, &callConfig{})
	return err
}
