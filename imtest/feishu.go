package imtest

import (
	"bytes"
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

// FeishuMessage is a message the Feishu emulator accepted, decoded.
type FeishuMessage struct {
	// Type is the msg_type: text, post, image, share_chat or interactive.
	Type string
	// Title is a post's title, or the header of a card.
	Title string
	// Text is the text, a post's paragraphs as lines (an img as
	// "[image]", an at as "@id"), or a card's lark_md content.
	Text string
	// Mentions are the open_ids mentioned ("all" for everyone).
	Mentions []string
	// Images are the bytes of the images the message shows.
	Images [][]byte
	// ShareChatID is a share_chat's chat id.
	ShareChatID string
	// Body is the request body as received.
	Body []byte
	// At is when it was accepted, by the emulator's clock.
	At time.Time
}

// Feishu emulates a Feishu custom bot on loopback, POST
// /open-apis/bot/v2/hook/HOOK_ID, with its signature, keywords, body limit
// and rate limits, and the app API that uploads images (tenant token and
// /open-apis/im/v1/images), answering as the reference documents.
type Feishu struct {
	// URL is the base URL to give feishu.WithBaseURL.
	URL string
	// HookID is the bot's hook id.
	HookID string
	// Secret is the signing secret; "" when requests need no signature.
	Secret string
	// AppID and AppSecret are the credentials of the app that uploads.
	AppID, AppSecret string
	// Faults injects failures into webhook sends.
	Faults

	srv       *httptest.Server
	lis       net.Listener
	mu        sync.Mutex
	now       func() time.Time
	perMin    int
	perSecond int
	window    time.Duration
	keywords  []string
	sent      []time.Time
	tokens    map[string]time.Time // tenant token -> expiry
	tokenTTL  time.Duration
	images    map[string][]byte
	msgs      []FeishuMessage
	requests  int
	uploads   int
	tokenHits int
	answered  map[int]int
}

// FeishuOption configures NewFeishu.
type FeishuOption func(*Feishu)

// WithFeishuSecret requires signed requests with this secret. Default: a
// random secret; "" turns signing off.
func WithFeishuSecret(s string) FeishuOption { return func(f *Feishu) { f.Secret = s } }

// WithFeishuKeywords requires every message to hold one of the keywords
// (19024 otherwise).
func WithFeishuKeywords(k ...string) FeishuOption {
	return func(f *Feishu) { f.keywords = append([]string(nil), k...) }
}

// WithFeishuRate sets the requests per minute window and per second
// (default 100 and 5, as Feishu allows; 0, 0: no limit), and the length of
// the minute window (the second window is a sixtieth of it).
func WithFeishuRate(perMinute, perSecond int, window time.Duration) FeishuOption {
	return func(f *Feishu) { f.perMin, f.perSecond, f.window = perMinute, perSecond, window }
}

// WithFeishuTokenTTL sets how long tenant tokens live. Default: 2 h.
func WithFeishuTokenTTL(d time.Duration) FeishuOption { return func(f *Feishu) { f.tokenTTL = d } }

// WithFeishuClock sets the clock of the signature, the tokens and the rate
// windows. Default: time.Now.
func WithFeishuClock(now func() time.Time) FeishuOption { return func(f *Feishu) { f.now = now } }

// WithFeishuListener serves the emulator on l instead of a random
// loopback port. Close closes l.
func WithFeishuListener(l net.Listener) FeishuOption { return func(f *Feishu) { f.lis = l } }

// NewFeishu starts a Feishu emulator with a random hook id, signing secret
// and app. Close it when done.
func NewFeishu(opts ...FeishuOption) *Feishu {
	r := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	id := r(16)
	f := &Feishu{HookID: id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:], Secret: r(12),
		AppID: "cli_" + r(8), AppSecret: r(16), now: time.Now, perMin: 100, perSecond: 5, window: time.Minute,
		tokens: map[string]time.Time{}, tokenTTL: 2 * time.Hour, images: map[string][]byte{}, answered: map[int]int{}}
	for _, o := range opts {
		o(f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/open-apis/bot/v2/hook/", f.handleHook)
	mux.HandleFunc("/open-apis/auth/v3/tenant_access_token/internal", f.handleToken)
	mux.HandleFunc("/open-apis/im/v1/images", f.handleUpload)
	f.srv = serve(mux, f.lis)
	f.URL = f.srv.URL
	return f
}

// WebhookURL is the whole webhook URL, as Feishu shows it to users.
func (f *Feishu) WebhookURL() string { return f.URL + "/open-apis/bot/v2/hook/" + f.HookID }

// Close stops the server.
func (f *Feishu) Close() { f.srv.Close() }

// Messages returns the accepted messages in order.
func (f *Feishu) Messages() []FeishuMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FeishuMessage(nil), f.msgs...)
}

// Requests returns how many webhook requests reached the emulator;
// Uploads and TokenRequests count the app's.
func (f *Feishu) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Uploads returns how many image uploads were accepted.
func (f *Feishu) Uploads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads
}

// TokenRequests returns how many tenant tokens were asked for.
func (f *Feishu) TokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenHits
}

// Answered returns how many sends the emulator refused with code (11232
// for the rate limit, say), not counting injected faults.
func (f *Feishu) Answered(code int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answered[code]
}

func feishuAnswer(code int, msg string) []byte {
	if code == 0 {
		return []byte(`{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`)
	}
	b, _ := json.Marshal(map[string]any{"code": code, "msg": msg, "data": map[string]any{}})
	return b
}

func (f *Feishu) handleHook(rw http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	f.Faults.serve(rw, r, func() []byte {
		code, msg := f.send(r)
		if code != 0 {
			f.mu.Lock()
			f.answered[code]++
			f.mu.Unlock()
		}
		return feishuAnswer(code, msg)
	}, func(code int) []byte { return feishuAnswer(code, "injected") })
}

// feishuBody is what the emulator decodes of a send.
type feishuBody struct {
	Timestamp json.RawMessage `json:"timestamp"`
	Sign      string          `json:"sign"`
	MsgType   string          `json:"msg_type"`
	Content   *struct {
		Text        string                     `json:"text"`
		ImageKey    string                     `json:"image_key"`
		ShareChatID string                     `json:"share_chat_id"`
		Post        map[string]json.RawMessage `json:"post"`
	} `json:"content"`
	Card map[string]json.RawMessage `json:"card"`
}

type feishuPost struct {
	Title   string `json:"title"`
	Content [][]struct {
		Tag      string `json:"tag"`
		Text     string `json:"text"`
		Href     string `json:"href"`
		UserID   string `json:"user_id"`
		ImageKey string `json:"image_key"`
	} `json:"content"`
}

func (f *Feishu) send(r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return 9499, "Bad Request"
	}
	if strings.TrimPrefix(r.URL.Path, "/open-apis/bot/v2/hook/") != f.HookID {
		return 19001, "param invalid: incoming webhook access token invalid"
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(raw) > 20000 {
		return 9499, "Bad Request"
	}
	var b feishuBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return 9499, "Bad Request"
	}
	if f.Secret != "" && !f.signed(b.Timestamp, b.Sign) {
		return 19021, "sign match fail or timestamp is not within one hour from current time"
	}
	msg, ok := f.decode(&b)
	if !ok {
		return 9499, "Bad Request"
	}
	msg.Body = raw
	if len(f.keywords) > 0 && !containsAny(msg.Title+"\n"+msg.Text, f.keywords) {
		return 19024, "Key Words Not Found"
	}
	return f.admit(msg)
}

// signed checks Feishu's signature: a timestamp in seconds (a string)
// within an hour, Base64 of HMAC-SHA256 keyed with "ts\nsecret" over
// nothing.
func (f *Feishu) signed(tsRaw json.RawMessage, sign string) bool {
	var ts string
	if json.Unmarshal(tsRaw, &ts) != nil {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := f.now().Sub(time.Unix(sec, 0)); d > time.Hour || d < -time.Hour {
		return false
	}
	mac := hmac.New(sha256.New, []byte(ts+"\n"+f.Secret))
	return hmac.Equal([]byte(sign), []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))))
}

// decode checks the shape of each msg_type and returns what the group sees.
func (f *Feishu) decode(b *feishuBody) (FeishuMessage, bool) {
	m := FeishuMessage{Type: b.MsgType}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case b.MsgType == "interactive" && b.Card != nil:
		return m, decodeCard(b.Card, &m)
	case b.Content == nil:
		return m, false
	case b.MsgType == "text" && b.Content.Text != "":
		m.Text = b.Content.Text
		m.Mentions = textMentions(m.Text, `<at user_id="`, `"`)
	case b.MsgType == "image":
		img, ok := f.images[b.Content.ImageKey]
		m.Images = [][]byte{img}
		return m, ok
	case b.MsgType == "share_chat" && strings.HasPrefix(b.Content.ShareChatID, "oc_"):
		m.ShareChatID = b.Content.ShareChatID
	case b.MsgType == "post" && len(b.Content.Post) > 0:
		return m, f.decodePost(b.Content.Post, &m)
	default:
		return m, false
	}
	return m, true
}

func (f *Feishu) decodePost(langs map[string]json.RawMessage, m *FeishuMessage) bool {
	for _, raw := range langs {
		var p feishuPost
		if json.Unmarshal(raw, &p) != nil || p.Content == nil {
			return false
		}
		m.Title = p.Title
		var lines []string
		for _, para := range p.Content {
			var line strings.Builder
			for _, t := range para {
				switch {
				case t.Tag == "text":
					line.WriteString(t.Text)
				case t.Tag == "a" && t.Href != "":
					line.WriteString(t.Text)
				case t.Tag == "at" && t.UserID != "":
					m.Mentions = append(m.Mentions, t.UserID)
					line.WriteString("@" + t.UserID)
				case t.Tag == "img" && f.images[t.ImageKey] != nil:
					m.Images = append(m.Images, f.images[t.ImageKey])
					line.WriteString("[image]")
				default:
					return false
				}
			}
			lines = append(lines, line.String())
		}
		m.Text = strings.Join(lines, "\n")
		return true // one language is what a reader sees
	}
	return false
}

func decodeCard(card map[string]json.RawMessage, m *FeishuMessage) bool {
	var els []struct {
		Tag  string `json:"tag"`
		Text struct {
			Tag     string `json:"tag"`
			Content string `json:"content"`
		} `json:"text"`
	}
	if json.Unmarshal(card["elements"], &els) != nil || len(els) == 0 {
		return false
	}
	var h struct {
		Title struct {
			Content string `json:"content"`
		} `json:"title"`
	}
	_ = json.Unmarshal(card["header"], &h)
	m.Title = h.Title.Content
	for _, e := range els {
		m.Text += e.Text.Content
	}
	m.Mentions = textMentions(m.Text, "<at id=", ">")
	return true
}

// textMentions finds the ids of the mention tags in s.
func textMentions(s, open, end string) []string {
	var out []string
	for {
		i := strings.Index(s, open)
		if i < 0 {
			return out
		}
		s = s[i+len(open):]
		j := strings.Index(s, end)
		if j < 0 {
			return out
		}
		out = append(out, s[:j])
		s = s[j:]
	}
}

// admit applies the minute and second windows (11232 past them) and
// records the message.
func (f *Feishu) admit(msg FeishuMessage) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.perMin > 0 {
		recent := f.sent[:0]
		inSecond := 0
		for _, t := range f.sent {
			if now.Sub(t) < f.window {
				recent = append(recent, t)
				if now.Sub(t) < f.window/60 {
					inSecond++
				}
			}
		}
		f.sent = recent
		if len(recent) >= f.perMin || inSecond >= f.perSecond {
			return 11232, "frequency limited"
		}
		f.sent = append(f.sent, now)
	}
	msg.At = now
	f.msgs = append(f.msgs, msg)
	return 0, ""
}

func (f *Feishu) handleToken(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenHits++
	if json.NewDecoder(r.Body).Decode(&in) != nil || in.AppID != f.AppID || in.AppSecret != f.AppSecret {
		// The token endpoint's error codes are not documented: one that
		// says what is wrong.
		_, _ = rw.Write(feishuAnswer(10014, "app secret invalid"))
		return
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tok := "t-" + hex.EncodeToString(b)
	f.tokens[tok] = f.now().Add(f.tokenTTL)
	out, _ := json.Marshal(map[string]any{"code": 0, "msg": "ok", "tenant_access_token": tok, "expire": int(f.tokenTTL / time.Second)})
	_, _ = rw.Write(out)
}

func (f *Feishu) handleUpload(rw http.ResponseWriter, r *http.Request) {
	status, code, msg, key := f.upload(r)
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.WriteHeader(status)
	if code != 0 {
		_, _ = rw.Write(feishuAnswer(code, msg))
		return
	}
	out, _ := json.Marshal(map[string]any{"code": 0, "msg": "success", "data": map[string]string{"image_key": key}})
	_, _ = rw.Write(out)
}

// upload takes a multipart image: image_type=message, an image of a known
// format, not empty, at most 10 MB, under a live tenant token.
func (f *Feishu) upload(r *http.Request) (status, code int, msg, key string) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	exp, ok := f.tokens[tok]
	now := f.now()
	f.mu.Unlock()
	if !ok || !now.Before(exp) {
		return 401, 234002, "Unauthorized", ""
	}
	if err := r.ParseMultipartForm(11 << 20); err != nil || r.FormValue("image_type") != "message" {
		return 400, 234001, "Invalid request param", ""
	}
	file, _, err := r.FormFile("image")
	if err != nil {
		return 400, 234001, "Invalid request param", ""
	}
	data, _ := io.ReadAll(io.LimitReader(file, 10<<20+1))
	switch {
	case len(data) == 0:
		return 400, 234010, "File's size can't be 0", ""
	case len(data) > 10<<20:
		return 400, 234006, "The file size exceed the max value", ""
	case !knownImage(data):
		return 400, 234011, "Can't regonnize it's a image", ""
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	key = "img_v3_" + hex.EncodeToString(b)
	f.mu.Lock()
	f.images[key] = data
	f.uploads++
	f.mu.Unlock()
	return 200, 0, "", key
}

func knownImage(data []byte) bool {
	switch http.DetectContentType(data) {
	case "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/x-icon":
		return true
	}
	return bytes.HasPrefix(data, []byte("II*\x00")) || bytes.HasPrefix(data, []byte("MM\x00*"))
}
