package main

import (
	"encoding/json"
	"io"
)

// printJSON prints v as one line of JSON. URLs keep their & and <>: the
// reader is a script or jq, not an HTML page.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
