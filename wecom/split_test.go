package wecom

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitTextPrefersLineBreaks(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("a", 1500) + "\n" + strings.Repeat("b", 1500)
	got := splitText(s, TextLimit)
	if len(got) != 2 || got[0] != strings.Repeat("a", 1500)+"\n" {
		t.Fatalf("want a cut after the line break, got %d chunks", len(got))
	}
	// No break anywhere: cut on a rune boundary.
	s = strings.Repeat("汉", 1000) // 3000 bytes
	got = splitText(s, TextLimit)
	for _, c := range got {
		if !utf8.ValidString(c) || len(c) > TextLimit {
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
		checkChunks(t, s, splitText(s, limit), limit)
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
		chunks := splitMarkdown(s, limit)
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
