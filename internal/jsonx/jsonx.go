// Package jsonx encodes request bodies the way both backends need: without
// HTML escaping, with caller fields merged at the top level.
package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Marshal encodes v and merges fields at the top level; a field replaces a
// key of the same name, as the autClaw JS helper's shallow merge does.
func Marshal(v any, fields map[string]any) ([]byte, error) {
	b, err := marshalNoEscape(v)
	if err != nil || len(fields) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, f := range fields {
		raw, err := marshalNoEscape(f)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		m[k] = raw
	}
	return marshalNoEscape(m)
}

// marshalNoEscape is json.Marshal without HTML escaping: chat platforms
// show "<@id>" and "&" as written, and "\u003c" only makes bodies longer.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
