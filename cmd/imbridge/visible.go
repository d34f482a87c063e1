package main

import (
	"fmt"
	"strings"
	"unicode"
)

// visible makes a string from outside (a server's answer, a stored job, a
// chat's text) safe for a terminal: control and escape characters are
// shown as \x.. or \u.... escapes, so that none of them moves the cursor,
// clears the screen or retitles the window.
func visible(s string) string {
	clean := true
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || !unicode.IsControl(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
