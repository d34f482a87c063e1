package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrBadPayload is the category of a request body that is not a
// notification: it would never succeed, so the answer is 400.
var ErrBadPayload = errors.New("bad payload")

// Notification is one webhook notification, from Alertmanager (version
// "4") or Grafana (version "1", with its extra fields).
type Notification struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`

	// Grafana's.
	OrgID   int64  `json:"orgId,omitempty"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	State   string `json:"state,omitempty"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status       string             `json:"status"`
	Labels       map[string]string  `json:"labels"`
	Annotations  map[string]string  `json:"annotations"`
	StartsAt     time.Time          `json:"startsAt"`
	EndsAt       time.Time          `json:"endsAt"`
	GeneratorURL string             `json:"generatorURL"`
	Fingerprint  string             `json:"fingerprint"`
	Values       map[string]float64 `json:"values,omitempty"`
	SilenceURL   string             `json:"silenceURL,omitempty"`
	DashboardURL string             `json:"dashboardURL,omitempty"`
	PanelURL     string             `json:"panelURL,omitempty"`
	ImageURL     string             `json:"imageURL,omitempty"`
}

// Firing reports whether the alert fires.
func (a Alert) Firing() bool { return a.Status == StatusFiring }

// The statuses of a notification and of an alert.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Source is who sent a notification: its endpoint.
type Source string

// The sources.
const (
	SourceAlertmanager Source = "alertmanager"
	SourceGrafana      Source = "grafana"
	SourceSend         Source = "send"
)

// decodeNotification reads a notification of source from body, and checks
// what the gateway relies on.
func decodeNotification(source Source, body []byte) (*Notification, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: not a JSON notification: %s", ErrBadPayload, jsonErr(err))
	}
	want := "4"
	if source == SourceGrafana {
		want = "1"
	}
	switch {
	case n.Version != want:
		return nil, fmt.Errorf("%w: version %q: a %s webhook sends version %q", ErrBadPayload, n.Version, source, want)
	case n.Status != StatusFiring && n.Status != StatusResolved:
		return nil, fmt.Errorf("%w: status %q: firing or resolved", ErrBadPayload, n.Status)
	case len(n.Alerts) == 0:
		return nil, fmt.Errorf("%w: no alerts", ErrBadPayload)
	}
	for i, a := range n.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return nil, fmt.Errorf("%w: alerts[%d].status %q: firing or resolved", ErrBadPayload, i, a.Status)
		}
	}
	return &n, nil
}

// jsonErr is a JSON error without the input it quotes.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: a JSON %s where the notification has another type", te.Field, te.Value)
	}
	return "not JSON"
}

// counts are the firing and resolved alerts of n.
func (n *Notification) counts() (firing, resolved int) {
	for _, a := range n.Alerts {
		if a.Firing() {
			firing++
		} else {
			resolved++
		}
	}
	return firing, resolved
}

// withoutResolved is n without its resolved alerts (a route with
// resolved: false), or nil when none fires.
func (n *Notification) withoutResolved() *Notification {
	c := *n
	c.Alerts = slices.DeleteFunc(slices.Clone(n.Alerts), func(a Alert) bool { return !a.Firing() })
	if len(c.Alerts) == 0 {
		return nil
	}
	c.Status = StatusFiring
	return &c
}

// dedupKey names a notification across Alertmanager's HA peers: the route,
// the group key, the status, and the sets of firing and resolved alerts
// (by fingerprint; by label set where a sender gives none). Every peer
// sends the same key for the same notification; externalURL and the
// body's bytes differ between peers, so they are not in it.
func (n *Notification) dedupKey(route string, source Source) string {
	var firing, resolved []string
	for _, a := range n.Alerts {
		id := a.Fingerprint
		if id == "" {
			id = labelsID(a.Labels)
		}
		if a.Firing() {
			firing = append(firing, id)
		} else {
			resolved = append(resolved, id)
		}
	}
	sort.Strings(firing)
	sort.Strings(resolved)
	group := n.GroupKey
	if group == "" {
		group = labelsID(n.GroupLabels)
	}
	h := sha256.New()
	for _, part := range []string{route, string(source), group, n.Status, strings.Join(firing, ","), strings.Join(resolved, ",")} {
		fmt.Fprintf(h, "%d:%s|", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// labelsID is a label set as one sorted string.
func labelsID(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q,", k, m[k])
	}
	return b.String()
}
