package gateway

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/imbridge/middleware/internal/textsplit"
)

// digest writes the built-in message of a notification: its status and
// alert name, the firing and resolved counts, then one line per alert
// (firing ones first) with its start or end in loc, the labels that set
// it apart and its summary, up to max lines and "+K more" past them (with
// the alerts Alertmanager left out, truncatedAlerts, counted in K).
func digest(n *Notification, loc *time.Location, max int) string {
	firing, resolved := n.counts()
	var b strings.Builder
	name := n.GroupLabels["alertname"]
	if name == "" {
		name = n.CommonLabels["alertname"]
	}
	if n.Status == StatusFiring {
		fmt.Fprintf(&b, "[FIRING:%d] %s", firing, name)
	} else {
		fmt.Fprintf(&b, "[RESOLVED] %s", name)
	}
	if rest := labelText(n.GroupLabels, map[string]string{"alertname": name}); rest != "" {
		fmt.Fprintf(&b, " (%s)", rest)
	}
	fmt.Fprintf(&b, "\nfiring %d, resolved %d", firing, resolved)
	if n.TruncatedAlerts > 0 {
		fmt.Fprintf(&b, ", %d more not sent by Alertmanager (max_alerts)", n.TruncatedAlerts)
	}
	alerts := make([]Alert, len(n.Alerts))
	copy(alerts, n.Alerts)
	sort.SliceStable(alerts, func(i, j int) bool { return alerts[i].Firing() && !alerts[j].Firing() })
	shown := min(max, len(alerts))
	for _, a := range alerts[:shown] {
		b.WriteString("\n")
		b.WriteString(alertLine(a, n.CommonLabels, loc))
	}
	if more := len(alerts) - shown + n.TruncatedAlerts; more > 0 {
		fmt.Fprintf(&b, "\n+%d more", more)
	}
	return b.String()
}

// alertLine is one alert in the digest.
func alertLine(a Alert, common map[string]string, loc *time.Location) string {
	var b strings.Builder
	if a.Firing() {
		fmt.Fprintf(&b, "FIRING   %s", localTime(a.StartsAt, loc))
	} else {
		fmt.Fprintf(&b, "RESOLVED %s", localTime(a.EndsAt, loc))
	}
	if l := labelText(a.Labels, common); l != "" {
		b.WriteString("  " + l)
	}
	summary := a.Annotations["summary"]
	if summary == "" {
		summary = a.Annotations["description"]
	}
	if summary != "" {
		b.WriteString("  " + oneLine(summary))
	}
	if !a.Firing() && !a.StartsAt.IsZero() && a.EndsAt.After(a.StartsAt) {
		fmt.Fprintf(&b, " (lasted %s)", humanDuration(a.EndsAt.Sub(a.StartsAt)))
	}
	return b.String()
}

// localTime is t in loc, to the second, with the zone's abbreviation; a
// zero time (Alertmanager's endsAt while an alert fires) is "-".
func localTime(t time.Time, loc *time.Location) string {
	if t.IsZero() || t.Year() <= 1 {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// labelText is the labels of m that common does not have, sorted, as
// k=v words.
func labelText(m, common map[string]string) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if cv, ok := common[k]; !ok || cv != v {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	words := make([]string, len(keys))
	for i, k := range keys {
		words[i] = k + "=" + oneLine(m[k])
	}
	return strings.Join(words, " ")
}

// lineBreaks are the breaks oneLine turns into spaces.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// oneLine keeps a value on its line: line breaks become spaces.
func oneLine(s string) string { return lineBreaks.Replace(s) }

// humanDuration is d rounded for people: 45s, 17m, 3h5m, 2d4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// markerRoom is what a part marker, "(12/34)\n", may take.
const markerRoom = 16

// split cuts text into messages of at most limit bytes, at line breaks
// where it can, and marks each "(i/n)" when there are several: nothing
// is cut off, and the parts read back to the text in order.
func split(text string, limit int) []string {
	if len(text) <= limit {
		return []string{text}
	}
	chunks := textsplit.Text(text, limit-markerRoom)
	for i, c := range chunks {
		chunks[i] = fmt.Sprintf("(%d/%d)\n%s", i+1, len(chunks), strings.TrimSuffix(c, "\n"))
	}
	return chunks
}
