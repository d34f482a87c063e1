package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// itemKeys are the keys of an autClaw mixed item, by the Item field they
// fill. Aliases of one field are listed together; giving two of them is an
// error, since they could disagree.
var itemKeys = []struct {
	names []string
	set   func(it *Item, v string)
}{
	{[]string{"type"}, func(it *Item, v string) { it.Type = ItemType(v) }},
	{[]string{"text"}, func(it *Item, v string) { it.Text = v }},
	{[]string{"source", "url", "path", "file"}, func(it *Item, v string) { it.Source = v }},
	{[]string{"name", "filename", "fileName", "file_name"}, func(it *Item, v string) { it.Name = v }},
	{[]string{"mimeType", "mime_type"}, func(it *Item, v string) { it.MIME = v }},
	{[]string{"caption"}, func(it *Item, v string) { it.Caption = v }},
	{[]string{"cover"}, func(it *Item, v string) { it.Cover = v }},
}

// ParseItems turns the items of an autClaw pushMixed call, as a JS or
// Python plugin writes them, into Items: "type" (text, markdown, image,
// voice, video, file), "text", "source" or its aliases "url", "path",
// "file", "name" (or "filename", "fileName", "file_name"), "mimeType" (or
// "mime_type"), "caption" and "cover". Every value is a string. An unknown
// key or type, a value that is not a string, or two aliases of one key is
// ErrInvalidItem naming the item; autClaw would drop such an item
// silently. The items are then checked again, with their sources, by the
// push that sends them.
func ParseItems(items []map[string]any) ([]Item, error) {
	out := make([]Item, len(items))
	for i, m := range items {
		it, err := parseItem(m)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: %w", ErrInvalidItem, i, err)
		}
		out[i] = it
	}
	return out, nil
}

// ParseItemsJSON is ParseItems for the items' JSON: an array of objects.
func ParseItemsJSON(data []byte) ([]Item, error) {
	var items []map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("%w: items JSON: %w", ErrInvalidItem, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: items JSON: more than one value", ErrInvalidItem)
	}
	return ParseItems(items)
}

func parseItem(m map[string]any) (Item, error) {
	var it Item
	known := map[string]bool{}
	for _, k := range itemKeys {
		var given []string
		for _, name := range k.names {
			known[name] = true
			v, ok := m[name]
			if !ok {
				continue
			}
			s, isString := v.(string)
			if !isString {
				return it, fmt.Errorf("%q must be a string, got %T", name, v)
			}
			given = append(given, name)
			k.set(&it, s)
		}
		if len(given) > 1 {
			return it, fmt.Errorf("%s name the same thing; give one", strings.Join(given, " and "))
		}
	}
	var unknown []string
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return it, fmt.Errorf("unknown key %q", unknown[0])
	}
	switch {
	case it.Type == "":
		return it, fmt.Errorf(`no "type"`)
	case !it.Type.valid():
		return it, fmt.Errorf("unknown type %q (text, markdown, image, voice, video, file)", it.Type)
	}
	return it, nil
}
