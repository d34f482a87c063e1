// Package textsplit cuts long texts into messages a platform takes: on
// rune boundaries, at line breaks where it can, and for markdown on block
// boundaries, keeping code blocks and tables whole where they fit. Every
// cut concatenates back to its input exactly: nothing is lost or changed.
package textsplit

import (
	"strings"
	"unicode/utf8"
)

// Text cuts s into chunks of at most limit bytes, on rune boundaries,
// preferring to end a chunk after a line break, then after a space. The
// chunks concatenate back to s exactly.
func Text(s string, limit int) []string {
	var out []string
	for len(s) > limit {
		cut := cutPoint(s, limit)
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// cutPoint returns where to end a chunk of s no longer than limit bytes.
func cutPoint(s string, limit int) int {
	window := s[:limit]
	// Prefer a line break, then a space, in the second half of the window,
	// so chunks do not get tiny.
	for _, sep := range []string{"\n", " "} {
		if i := strings.LastIndex(window, sep); i >= limit/2 {
			return i + 1
		}
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if cut == 0 { // limit smaller than one rune: a limit below 4 bytes
		_, size := utf8.DecodeRuneInString(s)
		return size
	}
	return cut
}

// Markdown cuts s into chunks of at most limit bytes on block
// boundaries: it keeps paragraphs together where they fit, never cuts
// inside a fenced code block or a table that fits in one chunk, and never
// inside a line that fits. Only a single block or line longer than the
// limit is cut further. The chunks concatenate back to s exactly.
func Markdown(s string, limit int) []string {
	if len(s) <= limit {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	add := func(u string) {
		if cur.Len()+len(u) > limit {
			flush()
		}
		cur.WriteString(u)
	}
	for _, block := range mdBlocks(s) {
		if len(block) <= limit {
			add(block)
			continue
		}
		for _, unit := range mdUnits(block) {
			if len(unit) <= limit {
				add(unit)
				continue
			}
			for _, line := range splitLines(unit) {
				if len(line) <= limit {
					add(line)
					continue
				}
				flush()
				parts := Text(line, limit)
				out = append(out, parts[:len(parts)-1]...)
				cur.WriteString(parts[len(parts)-1])
			}
		}
	}
	flush()
	return out
}

// splitLines cuts s after each "\n".
func splitLines(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func isFence(line string) bool {
	t := strings.TrimLeft(line, " ")
	return strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")
}

func isTableRow(line string) bool { return strings.HasPrefix(strings.TrimLeft(line, " "), "|") }

func isBlank(line string) bool { return strings.TrimSpace(line) == "" }

// mdUnits cuts a block into the pieces that must stay together: a whole
// fenced code block, a whole table, or one other line.
func mdUnits(block string) []string {
	lines := splitLines(block)
	var out []string
	for i := 0; i < len(lines); {
		j := i + 1
		switch {
		case isFence(lines[i]):
			for j < len(lines) && !isFence(lines[j]) {
				j++
			}
			if j < len(lines) {
				j++ // the closing fence
			}
		case isTableRow(lines[i]):
			for j < len(lines) && isTableRow(lines[j]) {
				j++
			}
		}
		out = append(out, strings.Join(lines[i:j], ""))
		i = j
	}
	return out
}

// mdBlocks cuts s into paragraphs, each with the blank lines after it. A
// fenced code block belongs to one paragraph, blank lines and all.
func mdBlocks(s string) []string {
	lines := splitLines(s)
	var out []string
	var cur strings.Builder
	inFence, sawBlank := false, false
	for _, l := range lines {
		if !inFence && sawBlank && !isBlank(l) {
			out = append(out, cur.String())
			cur.Reset()
			sawBlank = false
		}
		cur.WriteString(l)
		switch {
		case isFence(l):
			inFence = !inFence
		case !inFence && isBlank(l):
			sawBlank = true
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Fit cuts s so that every chunk's request body stays within maxBody bytes,
// where size(chunk) is the body that carries it (a JSON envelope, whose
// escapes make it longer than the text). Chunks are cut as Text, or as
// Markdown when markdown is set; a chunk whose body is still too large is
// cut again, smaller, so escapes never push a body over the limit. It
// fails only when even an empty chunk's body is over maxBody.
func Fit(s string, maxBody int, markdown bool, size func(chunk string) int) ([]string, bool) {
	// What the body costs besides the text, measured with one plain byte:
	// an empty text may drop its field (omitempty) and look cheaper.
	overhead := size("x") - 1
	if maxBody-overhead < minRoom {
		return nil, false
	}
	cut := Text
	if markdown {
		cut = Markdown
	}
	if size(s) <= maxBody {
		return []string{s}, true
	}
	return fit(s, maxBody-overhead, maxBody, cut, size), true
}

// minRoom is the least content room Fit works with: a single rune, which
// encoding/json escapes to six bytes at most (\u00XX, \u2028), always fits,
// so cutting down to one rune a chunk ends.
const minRoom = 16

func fit(s string, limit, maxBody int, cut func(string, int) []string, size func(string) int) []string {
	var out []string
	for _, c := range cut(s, limit) {
		n := size(c)
		if n <= maxBody {
			out = append(out, c)
			continue
		}
		// Escapes made this chunk's body too large: cut it in proportion,
		// and always smaller than before, so this ends.
		overhead := size("x") - 1
		smaller := min(limit-1, limit*(maxBody-overhead)/max(n-overhead, 1))
		out = append(out, fit(c, max(smaller, 1), maxBody, cut, size)...)
	}
	return out
}
