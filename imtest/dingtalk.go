package imtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DingTalkMessage is a message the DingTalk emulator accepted, decoded.
type DingTalkMessage struct {
	// Type is the msgtype: text, markdown, link, actionCard or feedCard.
	Type string
	// Title is the markdown, link or actionCard title.
	Title string
	// Text is text.content, or the markdown, link or actionCard text.
	Text string
	// Buttons counts an actionCard's buttons (1 for a single-button card);
	// Links a feedCard's links.
	Buttons, Links int
	// AtMobiles, AtUserIDs and AtAll are the at object as sent. Notified
	// lists the mobiles and user ids the text also names as "@id": the
	// only ones DingTalk notifies.
	AtMobiles, AtUserIDs, Notified []string
	AtAll                          bool
	// MsgUUID is the idempotency field, "" when absent.
	MsgUUID string
	// Body is the request body as received.
	Body []byte
	// At is when it was accepted, by the emulator's clock.
	At time.Time
}

// DingTalk emulates a DingTalk custom robot on loopback: POST
// /robot/send?access_token=TOKEN, with the signature, keywords, body limit,
// rate limit and ten-minute throttle the reference documents, answering
// inside HTTP 200 bodies.
type DingTalk struct {
	// URL is the base URL to give dingtalk.WithBaseURL.
	URL string
	// Token is the access token the emulator accepts.
	Token string
	// Secret is the signing secret ("SEC…"); "" when requests need no
	// signature.
	Secret string
	// Faults injects failures.
	Faults

	srv      *httptest.Server
	lis      net.Listener
	mu       sync.Mutex
	now      func() time.Time
	perMin   int
	window   time.Duration
	block    time.Duration
	blocked  time.Time
	keywords []string
	sent     []time.Time
	uuids    map[string]bool
	msgs     []DingTalkMessage
	requests int
	answered map[int]int
}

// DingTalkOption configures NewDingTalk.
type DingTalkOption func(*DingTalk)

// WithDingTalkSecret requires signed requests with this secret. Default: a
// random "SEC…" secret; "" turns signing off.
func WithDingTalkSecret(s string) DingTalkOption { return func(d *DingTalk) { d.Secret = s } }

// WithDingTalkKeywords requires every message to hold one of the keywords
// (310000 otherwise). Default: none.
func WithDingTalkKeywords(k ...string) DingTalkOption {
	return func(d *DingTalk) { d.keywords = append([]string(nil), k...) }
}

// WithDingTalkRate sets the messages per window (default 20, as DingTalk
// allows a minute; 0: no limit), the window (default a minute) and how
// long a robot over it stays throttled (default 10 minutes).
func WithDingTalkRate(n int, window, block time.Duration) DingTalkOption {
	return func(d *DingTalk) { d.perMin, d.window, d.block = n, window, block }
}

// WithDingTalkClock sets the clock of the signature check and the rate
// window. Default: time.Now.
func WithDingTalkClock(now func() time.Time) DingTalkOption { return func(d *DingTalk) { d.now = now } }

// WithDingTalkListener serves the emulator on l instead of a random
// loopback port. Close closes l.
func WithDingTalkListener(l net.Listener) DingTalkOption { return func(d *DingTalk) { d.lis = l } }

// NewDingTalk starts a DingTalk emulator with a random token and signing
// secret. Close it when done.
func NewDingTalk(opts ...DingTalkOption) *DingTalk {
	var b [32]byte
	_, _ = rand.Read(b[:])
	d := &DingTalk{Token: hex.EncodeToString(b[:]), now: time.Now,
		perMin: 20, window: time.Minute, block: 10 * time.Minute, uuids: map[string]bool{}, answered: map[int]int{}}
	_, _ = rand.Read(b[:])
	d.Secret = "SEC" + hex.EncodeToString(b[:])
	for _, o := range opts {
		o(d)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/robot/send", d.handleSend)
	d.srv = serve(mux, d.lis)
	d.URL = d.srv.URL
	return d
}

// WebhookURL is the whole webhook URL, as DingTalk shows it to users. It
// is http://, which dingtalk.New refuses unless the origin is named with
// dingtalk.WithBaseURL(d.URL).
func (d *DingTalk) WebhookURL() string { return d.URL + "/robot/send?access_token=" + d.Token }

// Close stops the server.
func (d *DingTalk) Close() { d.srv.Close() }

// Messages returns the accepted messages in order.
func (d *DingTalk) Messages() []DingTalkMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DingTalkMessage(nil), d.msgs...)
}

// Requests returns how many requests reached the emulator.
func (d *DingTalk) Requests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}

// Answered returns how many sends the emulator refused with errcode code
// (130101 for the rate limit, say), not counting injected faults.
func (d *DingTalk) Answered(code int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.answered[code]
}

func dingErr(code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"errcode": code, "errmsg": msg})
	return b
}

func (d *DingTalk) handleSend(rw http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.requests++
	d.mu.Unlock()
	d.Faults.serve(rw, r, func() []byte {
		code, msg := d.send(r)
		if code == 0 {
			return []byte(`{"errcode":0,"errmsg":"ok"}`)
		}
		d.mu.Lock()
		d.answered[code]++
		d.mu.Unlock()
		return dingErr(code, msg)
	}, func(code int) []byte { return dingErr(code, "injected") })
}

// dingTalkBody is what the emulator decodes of a send.
type dingTalkBody struct {
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Markdown *struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	Link *struct {
		Title      string `json:"title"`
		Text       string `json:"text"`
		MessageURL string `json:"messageUrl"`
		PicURL     string `json:"picUrl"`
	} `json:"link"`
	ActionCard *dingActionCard `json:"actionCard"`
	FeedCard   *dingFeedCard   `json:"feedCard"`
	At         *struct {
		AtMobiles []string `json:"atMobiles"`
		AtUserIDs []string `json:"atUserIds"`
		IsAtAll   bool     `json:"isAtAll"`
	} `json:"at"`
	MsgUUID string `json:"msgUuid"`
}

// dingActionCard is an actionCard body.
type dingActionCard struct {
	Title       string `json:"title"`
	Text        string `json:"text"`
	SingleTitle string `json:"singleTitle"`
	SingleURL   string `json:"singleURL"`
	Btns        []struct {
		Title     string `json:"title"`
		ActionURL string `json:"actionURL"`
	} `json:"btns"`
}

// dingFeedCard is a feedCard body.
type dingFeedCard struct {
	Links []struct {
		Title      string `json:"title"`
		MessageURL string `json:"messageURL"`
		PicURL     string `json:"picURL"`
	} `json:"links"`
}

// send checks a request the way DingTalk does, in its order: token,
// signature, body, throttle, keywords; then records the message.
func (d *DingTalk) send(r *http.Request) (int, string) {
	q := r.URL.Query()
	if r.Method != http.MethodPost {
		return 40035, "method must be POST"
	}
	if q.Get("access_token") != d.Token {
		return 300001, "token is not exist"
	}
	if d.Secret != "" {
		if code, msg := d.checkSign(q.Get("timestamp"), q.Get("sign")); code != 0 {
			return code, msg
		}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return -1, "system busy"
	}
	if len(raw) > 20000 {
		return 460101, "message too long, exceed 20000 bytes"
	}
	var b dingTalkBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return 40035, "invalid json"
	}
	msg, ok := decodeDing(&b)
	if !ok {
		return 40035, "missing or invalid parameters for msgtype " + b.MsgType
	}
	msg.Body = raw
	if len(d.keywords) > 0 && !containsAny(msg.Title+"\n"+msg.Text, d.keywords) {
		return 310000, "keywords not in content"
	}
	return d.admit(msg)
}

// checkSign verifies DingTalk's signature: a millisecond timestamp within
// an hour of now, HMAC-SHA256 keyed with the secret over "ts\nsecret".
func (d *DingTalk) checkSign(ts, sign string) (int, string) {
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 310000, "invalid timestamp"
	}
	if diff := d.now().Sub(time.UnixMilli(ms)); diff > time.Hour || diff < -time.Hour {
		return 310000, "invalid timestamp"
	}
	mac := hmac.New(sha256.New, []byte(d.Secret))
	mac.Write([]byte(ts + "\n" + d.Secret))
	if !hmac.Equal([]byte(sign), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))) {
		return 310000, "sign not match"
	}
	return 0, ""
}

// decodeDing checks the fields a msgtype requires (bold in the reference)
// and returns what a reader of the group would see.
func decodeDing(b *dingTalkBody) (DingTalkMessage, bool) {
	m := DingTalkMessage{Type: b.MsgType, MsgUUID: b.MsgUUID}
	ok := false
	switch b.MsgType {
	case "text":
		ok = b.Text != nil && b.Text.Content != ""
		if ok {
			m.Text = b.Text.Content
		}
	case "markdown":
		ok = b.Markdown != nil && b.Markdown.Title != "" && b.Markdown.Text != ""
		if ok {
			m.Title, m.Text = b.Markdown.Title, b.Markdown.Text
		}
	case "link":
		ok = b.Link != nil && b.Link.Title != "" && b.Link.Text != "" && b.Link.MessageURL != ""
		if ok {
			m.Title, m.Text = b.Link.Title, b.Link.Text
		}
	case "actionCard":
		ok = decodeActionCard(b.ActionCard, &m)
	case "feedCard":
		ok = decodeFeedCard(b.FeedCard, &m)
	}
	if !ok {
		return m, false
	}
	if b.At != nil && (b.MsgType == "text" || b.MsgType == "markdown") {
		m.AtMobiles, m.AtUserIDs, m.AtAll = b.At.AtMobiles, b.At.AtUserIDs, b.At.IsAtAll
		m.Notified = notified(m.Text, append(append([]string(nil), m.AtMobiles...), m.AtUserIDs...))
	}
	return m, true
}

// notified returns the ids DingTalk would notify: those whose "@id" the
// text holds.
func notified(text string, ids []string) []string {
	var out []string
	for _, id := range ids {
		if strings.Contains(text, "@"+id) {
			out = append(out, id)
		}
	}
	return out
}

// decodeActionCard checks an actionCard: a title, a text, and one button
// (singleTitle and singleURL) or several, each with a title and a URL.
func decodeActionCard(ac *dingActionCard, m *DingTalkMessage) bool {
	if ac == nil || ac.Title == "" || ac.Text == "" {
		return false
	}
	m.Title, m.Text = ac.Title, ac.Text
	if ac.SingleTitle != "" && ac.SingleURL != "" {
		m.Buttons = 1
		return true
	}
	for _, btn := range ac.Btns {
		if btn.Title == "" || btn.ActionURL == "" {
			return false
		}
	}
	m.Buttons = len(ac.Btns)
	return m.Buttons > 0
}

// decodeFeedCard checks a feedCard: links, each with a title, a URL and a
// picture.
func decodeFeedCard(fc *dingFeedCard, m *DingTalkMessage) bool {
	if fc == nil || len(fc.Links) == 0 {
		return false
	}
	for _, l := range fc.Links {
		if l.Title == "" || l.MessageURL == "" || l.PicURL == "" {
			return false
		}
		m.Text += l.Title + "\n"
	}
	m.Links = len(fc.Links)
	return true
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// admit applies the throttle and the per-minute budget (130101 past it,
// which throttles the robot), drops a repeated msgUuid as DingTalk does,
// and records the message.
func (d *DingTalk) admit(msg DingTalkMessage) (int, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if now.Before(d.blocked) {
		return 130101, "send too fast, exceed 20 times per minute"
	}
	if msg.MsgUUID != "" && d.uuids[msg.MsgUUID] {
		return 0, "" // posted already: not twice
	}
	if d.perMin > 0 {
		recent := d.sent[:0]
		for _, t := range d.sent {
			if now.Sub(t) < d.window {
				recent = append(recent, t)
			}
		}
		d.sent = recent
		if len(recent) >= d.perMin {
			d.blocked = now.Add(d.block)
			return 130101, "send too fast, exceed 20 times per minute"
		}
		d.sent = append(d.sent, now)
	}
	if msg.MsgUUID != "" {
		d.uuids[msg.MsgUUID] = true
	}
	msg.At = now
	d.msgs = append(d.msgs, msg)
	return 0, ""
}
