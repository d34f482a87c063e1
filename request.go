package middleware

import (
	"context"
	"fmt"
	"strings"
)

// Helper names one of the six helpers: which one a Request calls.
type Helper string

// The six helpers, by the names autClaw gives them (and logs and errors
// show).
const (
	HelperPush  Helper = "push"
	HelperImage Helper = "pushImage"
	HelperVoice Helper = "pushVoice"
	HelperVideo Helper = "pushVideo"
	HelperFile  Helper = "pushFile"
	HelperMixed Helper = "pushMixed"
)

// Request is one helper call as a value: Client.Do sends it exactly as the
// helper it names would, and Client.Check runs that helper's checks
// without I/O. Code that keeps pushes to send later (package outbox, a
// gateway) stores Requests.
type Request struct {
	// Helper is the helper called; "" is ErrInvalidOption.
	Helper Helper
	// IM, GroupCode, UserID and Title are the helpers' first arguments.
	IM, GroupCode, UserID, Title string
	// Content is Push's content, or a media helper's source (imageURL,
	// voiceURL, videoURL, fileURL). PushMixed reads Items instead.
	Content string
	// Items are PushMixed's items.
	Items []Item
	// Options are the call's options.
	Options []Option
}

// Checked is what Client.Check found of a Request that passed.
type Checked struct {
	// Items are the items the helper makes of the Request: Push's one text
	// item (content, else title), a media helper's one item, PushMixed's.
	Items []Item
	// Account is the account the push goes from, by the selection rules.
	Account Account
	// Settings are the Request's options as values.
	Settings Settings
}

// Do sends r as the helper r.Helper names: the one path of all six.
func (c *Client) Do(ctx context.Context, r Request) (int, error) {
	cl := r.call()
	return c.start(ctx, cl, cl.itemsOf(r))
}

// Check runs every check Do makes before any I/O (arguments, items,
// options, sources against the SourcePolicy, the account, the backend's
// Validator) and returns what they found. A push that passes may still be
// refused by the platform, never by these checks, as long as the accounts
// stay as they are. Its errors name the helper as Do's do.
func (c *Client) Check(ctx context.Context, r Request) (Checked, error) {
	cl := r.call()
	err := cl.itemsOf(r)
	if ctx == nil {
		err = errNilContext
	}
	if err != nil {
		return Checked{}, prefix(cl, err)
	}
	p, err := c.prepare(ctx, cl)
	if err != nil {
		return Checked{}, prefix(cl, err)
	}
	return Checked{Items: cl.items, Account: p.acct, Settings: p.cfg.Settings}, nil
}

func (r *Request) call() *call {
	return &call{helper: string(r.Helper), imType: r.IM, groupCode: r.GroupCode, userID: r.UserID, title: r.Title, opts: r.Options}
}

// itemsOf makes the call's items as r's helper does; what it finds wrong
// names the helper's argument.
func (cl *call) itemsOf(r Request) error {
	switch r.Helper {
	case HelperPush:
		return cl.textItem(r.Content)
	case HelperImage:
		return cl.mediaItem(ImageItem, "imageURL", r.Content)
	case HelperVoice:
		return cl.mediaItem(VoiceItem, "voiceURL", r.Content)
	case HelperVideo:
		return cl.mediaItem(VideoItem, "videoURL", r.Content)
	case HelperFile:
		return cl.mediaItem(FileItem, "fileURL", r.Content)
	case HelperMixed:
		return cl.mixedItems(r.Items)
	}
	cl.helper = "push"
	return fmt.Errorf("%w: Request.Helper %q is not one of the six helpers", ErrInvalidOption, r.Helper)
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

// Settings returns what r's Options ask for, as values, or the first error
// an option found (a WithTimeout(0), say). It reads the options only: see
// Client.Check for the rest.
func (r Request) Settings() (Settings, error) {
	cfg := newCallConfig(r.Options)
	return cfg.Settings, cfg.err
}
