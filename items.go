package middleware

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ItemType is the kind of a message item.
type ItemType string

// The item types of PushMixed, as in autClaw's replyMixed.
const (
	TextItem     ItemType = "text"
	MarkdownItem ItemType = "markdown"
	ImageItem    ItemType = "image"
	VoiceItem    ItemType = "voice"
	VideoItem    ItemType = "video"
	FileItem     ItemType = "file"
)

// IsMedia reports whether t carries a source rather than text.
func (t ItemType) IsMedia() bool {
	switch t {
	case ImageItem, VoiceItem, VideoItem, FileItem:
		return true
	}
	return false
}

func (t ItemType) valid() bool {
	return t == TextItem || t == MarkdownItem || t.IsMedia()
}

// Item is one part of a message.
type Item struct {
	// Type is the kind of item.
	Type ItemType
	// Text is the content of a text or markdown item. It must be valid
	// UTF-8: text from an older system (GBK, Latin-1) is refused, not sent
	// garbled.
	Text string
	// Source locates a media item: an http(s) URL, a local path, a file://
	// URL, "base64://<data>", or "data:<mime>;base64,<data>". Which of them
	// a push may read is its SourcePolicy's call.
	Source string
	// Data holds a media item in memory, instead of Source.
	Data []byte
	// Name is the display file name of a media item: valid UTF-8 without
	// control characters (a NUL, CR or LF is refused, not cleaned).
	Name string
	// MIME is the media type of a media item.
	MIME string
	// Caption is text that travels with a media item: on TIM a text
	// element in the same message, on WeCom a text message right after it.
	Caption string
	// Cover is a video item's thumbnail, in any source form (TIM shows
	// it, and needs one; WeCom sends videos as files and ignores it).
	Cover string
}

// prepareItems checks every item and parses media sources under p without
// network I/O (local files are stat-ed, inline base64 is decoded).
func prepareItems(items []Item, cfg *callConfig, p SourcePolicy) ([]*source, error) {
	if err := checkName("WithFilename", cfg.Filename); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	if err := checkMIME("WithMIME", cfg.MIME); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	sources := make([]*source, len(items))
	var media int
	for i, it := range items {
		var err error
		switch {
		case !it.Type.valid():
			err = fmt.Errorf("%w: unknown type %q", ErrInvalidItem, it.Type)
		case it.Type.IsMedia():
			media++
			sources[i], err = checkMedia(it, p)
		default:
			err = checkText(it)
		}
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	if media > 1 && (cfg.Filename != "" || cfg.MIME != "") {
		return nil, fmt.Errorf("%w: WithFilename/WithMIME name one media item, but the message has %d: set Item.Name and Item.MIME instead", ErrInvalidOption, media)
	}
	return sources, nil
}

// checkText checks a text or markdown item.
func checkText(it Item) error {
	switch {
	case it.Text == "":
		return fmt.Errorf("%w: %s item has no text", ErrInvalidItem, it.Type)
	case !utf8.ValidString(it.Text):
		return fmt.Errorf("%w: %s is not valid UTF-8 (at byte %d)", ErrInvalidItem, it.Type, firstInvalid(it.Text))
	case it.Source != "" || it.Data != nil:
		return fmt.Errorf("%w: %s item has a media source; set Type to the media kind", ErrInvalidItem, it.Type)
	case it.Caption != "" || it.Cover != "":
		return fmt.Errorf("%w: %s item has a Caption or a Cover; they belong to media items", ErrInvalidItem, it.Type)
	}
	return nil
}

// checkMedia checks a media item's name, MIME type, caption and cover, and
// parses its source under p.
func checkMedia(it Item, p SourcePolicy) (*source, error) {
	if err := checkName("Name", it.Name); err != nil {
		return nil, err
	}
	if err := checkMIME("MIME", it.MIME); err != nil {
		return nil, err
	}
	if !utf8.ValidString(it.Caption) {
		return nil, fmt.Errorf("%w: Caption is not valid UTF-8 (at byte %d)", ErrInvalidItem, firstInvalid(it.Caption))
	}
	if it.Cover != "" {
		if it.Type != VideoItem {
			return nil, fmt.Errorf("%w: a Cover is a video's thumbnail, and this is %s", ErrInvalidItem, it.Type)
		}
		if _, err := prepareSource(Item{Type: ImageItem, Source: it.Cover}, p); err != nil {
			return nil, fmt.Errorf("cover: %w", err)
		}
	}
	return prepareSource(it, p)
}

// Validate checks one item as PushMixed does under TrustedSources,
// without network I/O: its type, its text, and that a media source is well
// formed (a local file exists, inline base64 decodes). Backends checking
// a media item that travels outside Message.Items, such as a video
// thumbnail, use Message.CheckSource instead, which applies the call's
// SourcePolicy.
func (it Item) Validate() error {
	_, err := prepareItems([]Item{it}, &callConfig{}, trusted())
	return err
}

// checkName refuses a caller's file name that cannot travel as written: a
// multipart header or a JSON string would cut, garble or refuse it.
func checkName(arg, name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidItem, arg)
	}
	if i := strings.IndexFunc(name, isControl); i >= 0 {
		return fmt.Errorf("%w: %s holds a control character (%U) at byte %d", ErrInvalidItem, arg, []rune(name[i:])[0], i)
	}
	return nil
}

// checkMIME refuses a MIME type with control characters, which would end
// a header line.
func checkMIME(arg, mimeType string) error {
	if !utf8.ValidString(mimeType) || strings.IndexFunc(mimeType, isControl) >= 0 {
		return fmt.Errorf("%w: %s holds control characters or invalid UTF-8", ErrInvalidItem, arg)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// cleanName makes a name taken from a path, a URL or a server's header safe
// to show and to put in a header: invalid UTF-8 and control characters are
// dropped. Names the caller gives are refused instead (checkName).
func cleanName(name string) string {
	name = strings.ToValidUTF8(name, "")
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, name)
}

// firstInvalid is the offset of the first byte that is not UTF-8.
func firstInvalid(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return -1
}
