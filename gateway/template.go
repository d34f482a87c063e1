package gateway

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// TemplateData is what a route's template is executed on: the
// notification's fields, and the route, the counts and the time zone.
type TemplateData struct {
	*Notification
	// Route is the route's name.
	Route string
	// Firing and Resolved count the alerts of each status.
	Firing, Resolved int
}

// templateFuncs are the helpers a template may call, in the configured
// zone:
//
//	localtime T          "2006-01-02 15:04:05 MST" in the zone; "-" for a zero time
//	timefmt LAYOUT T     T in the zone, in Go's LAYOUT
//	since T              how long ago T was: 45s, 17m, 3h5m, 2d4h
//	duration FROM TO     how long from FROM to TO, likewise
//	joinLabels MAP       k=v words, sorted by key
//	sortedKeys MAP       the keys, sorted
//	truncate N S         S cut to N characters, saying so: "… (truncated, 12 more characters)"
//	join SEP LIST, upper S, lower S
func templateFuncs(loc *time.Location, now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"localtime": func(t time.Time) string { return localTime(t, loc) },
		"timefmt": func(layout string, t time.Time) string {
			if t.IsZero() || t.Year() <= 1 {
				return "-"
			}
			return t.In(loc).Format(layout)
		},
		"since":    func(t time.Time) string { return humanDuration(now().Sub(t)) },
		"duration": func(from, to time.Time) string { return humanDuration(to.Sub(from)) },
		"joinLabels": func(m map[string]string) string {
			return labelText(m, nil)
		},
		"sortedKeys": func(m map[string]string) []string {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return keys
		},
		"truncate": truncate,
		"join":     func(sep string, list []string) string { return strings.Join(list, sep) },
		"upper":    strings.ToUpper,
		"lower":    strings.ToLower,
	}
}

// truncate cuts s to n characters and says what it cut: a template's
// truncation is never silent.
func truncate(n int, s string) string {
	total := utf8.RuneCountInString(s)
	if n < 0 || total <= n {
		return s
	}
	cut := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[cut:])
		cut += size
	}
	return fmt.Sprintf("%s… (truncated, %d more characters)", s[:cut], total-n)
}

// loadTemplate parses the template file at path and runs it once on a
// sample notification, so that a template that cannot work fails at
// start, its error naming the file and the line.
func loadTemplate(path string, loc *time.Location) (*template.Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: template: %w", ErrConfig, err)
	}
	t, err := template.New(path).Funcs(templateFuncs(loc, time.Now)).Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := render(t, sampleData()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return t, nil
}

// render executes t on d.
func render(t *template.Template, d TemplateData) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// sampleData is a notification with one firing and one resolved alert,
// for checking a template at start.
func sampleData() TemplateData {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := &Notification{Version: "4", GroupKey: `{}:{alertname="Sample"}`, Status: StatusFiring, Receiver: "sample",
		GroupLabels: map[string]string{"alertname": "Sample"}, CommonLabels: map[string]string{"alertname": "Sample"},
		CommonAnnotations: map[string]string{}, ExternalURL: "http://alertmanager.example",
		Alerts: []Alert{
			{Status: StatusFiring, Labels: map[string]string{"alertname": "Sample", "instance": "a"},
				Annotations: map[string]string{"summary": "sample"}, StartsAt: start, Fingerprint: "0000000000000001"},
			{Status: StatusResolved, Labels: map[string]string{"alertname": "Sample", "instance": "b"},
				Annotations: map[string]string{"summary": "sample"}, StartsAt: start, EndsAt: start.Add(time.Hour), Fingerprint: "0000000000000002"},
		}}
	return TemplateData{Notification: n, Route: "sample", Firing: 1, Resolved: 1}
}
