package gateway

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var partMarker = regexp.MustCompile(`^\((\d+)/(\d+)\)\n`)

// Whatever a sender posts: decoding never panics, and a notification that
// decodes is written and split into parts that each fit, are marked in
// order, and read back to the whole message: nothing cut, nothing lost.
func FuzzNotification(f *testing.F) {
	grafana, err := os.ReadFile("testdata/grafana.json")
	if err != nil {
		f.Fatal(err)
	}
	am, _ := json.Marshal(notification("Seed", []string{"a", "b"}, []string{"c"}))
	f.Add(am, 3, 2048)
	f.Add(grafana, 20, 300)
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"日本語\n改行"}}]}`), 1, 100)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	f.Fuzz(func(t *testing.T, body []byte, max, limit int) {
		max = 1 + abs(max)%50
		limit = markerRoom + 8 + abs(limit)%4096
		for _, source := range []Source{SourceAlertmanager, SourceGrafana} {
			n, err := decodeNotification(source, body)
			if err != nil {
				continue
			}
			text := digest(n, loc, max)
			if !utf8.ValidString(text) && utf8.Valid(body) {
				t.Fatalf("the digest of valid UTF-8 is not valid UTF-8: %q", text)
			}
			parts := split(text, limit)
			if len(parts) == 1 {
				if parts[0] != text {
					t.Fatalf("one part that is not the text")
				}
				continue
			}
			var rejoined []string
			for i, p := range parts {
				if len(p) > limit {
					t.Fatalf("part %d is %d bytes, the limit %d", i, len(p), limit)
				}
				g := partMarker.FindStringSubmatch(p)
				if g == nil || g[1] != strconv.Itoa(i+1) || g[2] != strconv.Itoa(len(parts)) {
					t.Fatalf("part %d is not marked %d/%d: %q", i, i+1, len(parts), p)
				}
				rejoined = append(rejoined, strings.TrimPrefix(p, g[0]))
			}
			if !sameText(strings.Join(rejoined, "\n"), text) {
				t.Fatalf("the parts do not read back to the text")
			}
		}
	})
}

// sameText compares a rejoined text with the original: a part that ended
// with its own line break lost only that break when it was marked.
func sameText(rejoined, text string) bool {
	return strings.ReplaceAll(rejoined, "\n", "") == strings.ReplaceAll(text, "\n", "")
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
