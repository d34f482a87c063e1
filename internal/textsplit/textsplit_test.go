package textsplit

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitTextPrefersLineBreaks(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("a", 1500) + "\n" + strings.Repeat("b", 1500)
	got := Text(s, 2048)
	if len(got) != 2 || got[0] != strings.Repeat("a", 1500)+"\n" {
		t.Fatalf("want a cut after the line break, got %d chunks", len(got))
	}
	// No break anywhere: cut on a rune boundary.
	s = strings.Repeat("汉", 1000) // 3000 bytes
	got = Text(s, 2048)
	for _, c := range got {
		if !utf8.ValidString(c) || len(c) > 2048 {
			t.Fatalf("bad chunk of %d bytes", len(c))
		}
	}
	if strings.Join(got, "") != s {
		t.Fatal("chunks do not concatenate back")
	}
}

func checkChunks(t *testing.T, in string, chunks []string, limit int) {
	t.Helper()
	if strings.Join(chunks, "") != in {
		t.Fatalf("chunks do not concatenate back to the input")
	}
	for i, c := range chunks {
		if len(c) > limit {
			t.Fatalf("chunk %d is %d bytes > %d", i, len(c), limit)
		}
		if c == "" {
			t.Fatalf("chunk %d is empty", i)
		}
		if utf8.ValidString(in) && !utf8.ValidString(c) {
			t.Fatalf("chunk %d cuts a rune", i)
		}
	}
}

// intactUnits lists the code blocks and tables of s that fit in limit: each
// must land whole in one chunk.
func intactUnits(s string, limit int) []string {
	var out []string
	for _, b := range mdBlocks(s) {
		for _, u := range mdUnits(b) {
			if (isFence(u) || isTableRow(u)) && len(u) <= limit && strings.Count(u, "\n") > 1 {
				out = append(out, u)
			}
		}
	}
	return out
}

func FuzzSplitText(f *testing.F) {
	f.Add("hello\nworld", 8)
	f.Add(strings.Repeat("数据 ", 900), 2048)
	f.Add("\xff\xfe broken utf8 \xff", 5)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 4 || limit > 5000 {
			return
		}
		checkChunks(t, s, Text(s, limit), limit)
	})
}

func FuzzSplitMarkdown(f *testing.F) {
	f.Add("# t\n\npara\n\n```\ncode\n\ncode\n```\n\n| a | b |\n| - | - |\n| 1 | 2 |\n", 20)
	f.Add(strings.Repeat("| row | 汉字 |\n", 400), 4096)
	f.Add("```go\nunterminated\n\nfence", 10)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 8 || limit > 5000 {
			return
		}
		chunks := Markdown(s, limit)
		checkChunks(t, s, chunks, limit)
		for _, u := range intactUnits(s, limit) {
			found := false
			for _, c := range chunks {
				if strings.Contains(c, u) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("a code block or table that fits (%d bytes) was cut", len(u))
			}
		}
	})
}

// A JSON body with escapes must still fit: control characters and quotes
// take several bytes each once encoded.
func TestFitCountsTheEncodedBody(t *testing.T) {
	t.Parallel()
	size := func(c string) int {
		b, _ := json.Marshal(map[string]string{"content": c})
		return len(b)
	}
	for _, s := range []string{
		strings.Repeat("\x01", 500),
		strings.Repeat(`"q" `, 300),
		strings.Repeat("汉字\n", 400),
		strings.Repeat("\u2028x", 300),
	} {
		for _, md := range []bool{false, true} {
			chunks, ok := Fit(s, 200, md, size)
			if !ok {
				t.Fatal("Fit refused a body limit with room")
			}
			if strings.Join(chunks, "") != s {
				t.Fatal("chunks do not concatenate back")
			}
			for i, c := range chunks {
				if n := size(c); n > 200 {
					t.Fatalf("chunk %d's body is %d bytes > 200", i, n)
				}
			}
		}
	}
	if _, ok := Fit("x", 20, false, size); ok {
		t.Fatal("Fit accepted a limit that leaves no room for content")
	}
	if got, _ := Fit("short", 200, false, size); len(got) != 1 || got[0] != "short" {
		t.Fatalf("a text that fits was cut: %q", got)
	}
}

func FuzzFit(f *testing.F) {
	f.Add("a\x01b\"c\n\n```\nx\n```\n", 40, true)
	f.Add(strings.Repeat("\u2028", 50), 30, false)
	f.Fuzz(func(t *testing.T, s string, limit int, md bool) {
		if limit < 1 || limit > 3000 {
			return
		}
		size := func(c string) int {
			b, _ := json.Marshal(map[string]string{"c": c})
			return len(b)
		}
		chunks, ok := Fit(s, limit, md, size)
		if !ok {
			if limit-(size("x")-1) >= minRoom {
				t.Fatalf("refused with %d bytes of room", limit-(size("x")-1))
			}
			return
		}
		if strings.Join(chunks, "") != s {
			t.Fatal("chunks do not concatenate back")
		}
		for i, c := range chunks {
			if size(c) > limit {
				t.Fatalf("chunk %d's body is %d bytes > %d", i, size(c), limit)
			}
		}
	})
}
