package imtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WeComMessage is a message the WeCom emulator accepted, decoded.
type WeComMessage struct {
	// Type is the msgtype.
	Type string
	// ChatID is the chatid as sent ("" for the bot's own group).
	ChatID string
	// Content is the text, markdown or markdown_v2 content.
	Content string
	// Mentions and MentionMobiles are the text message's mention lists.
	Mentions, MentionMobiles []string
	// VisibleTo and PostID are as sent.
	VisibleTo, PostID string
	// Image is the decoded image of an image message.
	Image []byte
	// FileName and File are the upload behind a file or voice message.
	FileName string
	File     []byte
	// Body is the request body as received.
	Body []byte
	// At is when it was accepted, by the emulator's clock.
	At time.Time
}

type weComMedia struct {
	typ  string
	name string
	data []byte
	at   time.Time
}

// WeCom emulates a WeCom group-bot webhook on loopback:
// /cgi-bin/webhook/send and /cgi-bin/webhook/upload_media.
type WeCom struct {
	// URL is the base URL to give wecom.WithBaseURL.
	URL string
	// Key is the webhook key the emulator accepts.
	Key string
	// Faults injects failures.
	Faults

	srv      *httptest.Server
	lis      net.Listener
	seed     maphash.Seed
	mu       sync.Mutex
	now      func() time.Time
	media    map[string]weComMedia
	msgs     []WeComMessage
	sent     map[string][]time.Time // chat -> accepted sends, for the per-minute limit
	inflight map[uint64]bool
	perMin   int
	window   time.Duration
	noRecord bool
	requests int
	answered map[int]int // errcode -> how many answers
}

// WeComOption configures NewWeCom.
type WeComOption func(*WeCom)

// WithWeComClock sets the clock that ages media_ids and counts the rate
// window. Default: time.Now.
func WithWeComClock(now func() time.Time) WeComOption { return func(w *WeCom) { w.now = now } }

// WithWeComRate sets the messages per window per chat (default 100, as
// the doc gives per minute); 0 turns the limit off (benchmarks).
func WithWeComRate(n int) WeComOption { return func(w *WeCom) { w.perMin = n } }

// WithWeComWindow shortens the rate window, for tests of pacing that
// should not take minutes. Default: a minute. Past the budget the answer is
// 45009, as WeCom's.
func WithWeComWindow(d time.Duration) WeComOption { return func(w *WeCom) { w.window = d } }

// WithWeComKey sets the webhook key the emulator answers to, for a stable
// setup (scripts, a bot's configuration). Default: a random key.
func WithWeComKey(key string) WeComOption { return func(w *WeCom) { w.Key = key } }

// WithWeComListener serves the emulator on l (a fixed port, for a setup
// that survives restarts) instead of a random loopback port. Close closes
// l.
func WithWeComListener(l net.Listener) WeComOption { return func(w *WeCom) { w.lis = l } }

// WithWeComRecording(false) stops keeping accepted messages, so a long
// benchmark does not grow the heap. Default: on.
func WithWeComRecording(on bool) WeComOption { return func(w *WeCom) { w.noRecord = !on } }

// NewWeCom starts a WeCom emulator with a random key. Close it when done.
func NewWeCom(opts ...WeComOption) *WeCom {
	var b [16]byte
	_, _ = rand.Read(b[:])
	k := hex.EncodeToString(b[:])
	w := &WeCom{
		Key:  k[:8] + "-" + k[8:12] + "-" + k[12:16] + "-" + k[16:20] + "-" + k[20:],
		seed: maphash.MakeSeed(), now: time.Now, media: map[string]weComMedia{},
		sent: map[string][]time.Time{}, inflight: map[uint64]bool{}, perMin: 100, window: time.Minute, answered: map[int]int{},
	}
	for _, o := range opts {
		o(w)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/webhook/send", w.handleSend)
	mux.HandleFunc("/cgi-bin/webhook/upload_media", w.handleUpload)
	w.srv = serve(mux, w.lis)
	w.URL = w.srv.URL
	return w
}

// WebhookURL is the whole webhook URL, as WeCom shows it to users. It is
// http://, which wecom.New refuses unless the origin is named with
// wecom.WithBaseURL(w.URL): build bots with New(w.Key, WithBaseURL(w.URL)).
func (w *WeCom) WebhookURL() string { return w.URL + "/cgi-bin/webhook/send?key=" + w.Key }

// Close stops the server.
func (w *WeCom) Close() { w.srv.Close() }

// Messages returns the accepted messages in order.
func (w *WeCom) Messages() []WeComMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WeComMessage(nil), w.msgs...)
}

// Uploads returns how many uploads were accepted.
func (w *WeCom) Uploads() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.media)
}

// Requests returns how many requests reached the emulator.
func (w *WeCom) Requests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.requests
}

// Reset forgets messages, media, rate windows and faults.
func (w *WeCom) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs, w.media, w.sent, w.requests = nil, map[string]weComMedia{}, map[string][]time.Time{}, 0
	w.Faults.mu.Lock()
	w.Faults.queue = nil
	w.Faults.mu.Unlock()
}

func weComErr(code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"errcode": code, "errmsg": msg})
	return b
}

func (w *WeCom) count() {
	w.mu.Lock()
	w.requests++
	w.mu.Unlock()
}

func (w *WeCom) handleSend(rw http.ResponseWriter, r *http.Request) {
	w.count()
	w.Faults.serve(rw, r, func() []byte { return w.tally(w.send(r)) }, func(code int) []byte { return weComErr(code, "injected") })
}

// tally counts the errcode of an answer the emulator itself gave (faults
// injected are not counted).
func (w *WeCom) tally(answer []byte) []byte {
	if bytes.HasPrefix(answer, []byte(`{"errcode":0,`)) {
		return answer
	}
	var a struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(answer, &a) == nil {
		w.mu.Lock()
		w.answered[a.ErrCode]++
		w.mu.Unlock()
	}
	return answer
}

// Answered returns how many sends the emulator refused with errcode code
// (45009 for the rate window, say), not counting injected faults.
func (w *WeCom) Answered(code int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.answered[code]
}

func (w *WeCom) handleUpload(rw http.ResponseWriter, r *http.Request) {
	w.count()
	w.Faults.serve(rw, r, func() []byte { return w.upload(r) }, func(code int) []byte { return weComErr(code, "injected") })
}

// weComBody is what the emulator decodes of a send.
type weComBody struct {
	ChatID        string `json:"chatid"`
	MsgType       string `json:"msgtype"`
	VisibleToUser string `json:"visible_to_user"`
	PostID        string `json:"post_id"`
	Text          *struct {
		Content             string   `json:"content"`
		MentionedList       []string `json:"mentioned_list"`
		MentionedMobileList []string `json:"mentioned_mobile_list"`
	} `json:"text"`
	Markdown *struct {
		Content     string            `json:"content"`
		Attachments []json.RawMessage `json:"attachments"`
	} `json:"markdown"`
	MarkdownV2 *struct {
		Content string `json:"content"`
	} `json:"markdown_v2"`
	MiniProgram *struct {
		Title      string `json:"title"`
		PicMediaID string `json:"pic_media_id"`
		AppID      string `json:"appid"`
		Page       string `json:"page"`
	} `json:"miniprogram"`
	Image *struct {
		Base64 string `json:"base64"`
		MD5    string `json:"md5"`
	} `json:"image"`
	File *struct {
		MediaID string `json:"media_id"`
	} `json:"file"`
	Voice *struct {
		MediaID string `json:"media_id"`
	} `json:"voice"`
	News *struct {
		Articles []map[string]any `json:"articles"`
	} `json:"news"`
	TemplateCard map[string]any `json:"template_card"`
}

func (w *WeCom) send(r *http.Request) []byte {
	if r.Method != http.MethodPost {
		return weComErr(40008, "method must be POST")
	}
	if r.URL.Query().Get("key") != w.Key {
		return weComErr(93000, "invalid webhook url")
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return weComErr(-1, "system busy")
	}
	release, ok := w.acquire(raw)
	if !ok {
		return weComErr(45033, "api concurrent out of limit")
	}
	defer release()
	var b weComBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return weComErr(40008, "invalid message type")
	}
	chats, code, errmsg := chatsOf(&b)
	if code != 0 {
		return weComErr(code, errmsg)
	}
	msg := WeComMessage{Type: b.MsgType, ChatID: b.ChatID, VisibleTo: b.VisibleToUser, PostID: b.PostID, Body: raw}
	if code, errmsg := w.decode(&b, &msg); code != 0 {
		return weComErr(code, errmsg)
	}
	return w.admit(chats, msg)
}

// acquire marks a body in flight: the same body may not be in flight
// twice (45033).
func (w *WeCom) acquire(raw []byte) (release func(), ok bool) {
	h := maphash.Bytes(w.seed, raw)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[h] {
		return nil, false
	}
	w.inflight[h] = true
	return func() {
		w.mu.Lock()
		delete(w.inflight, h)
		w.mu.Unlock()
	}, true
}

// chatsOf checks chatid (at most 100 ids) and visible_to_user (exactly one
// chat); "" stands for the bot's own group.
func chatsOf(b *weComBody) ([]string, int, string) {
	chats := []string{""}
	if b.ChatID != "" {
		chats = strings.Split(b.ChatID, "|")
		if len(chats) > 100 {
			return nil, 93006, "invalid chatid: more than 100"
		}
		for _, c := range chats {
			if c == "" {
				return nil, 93006, "invalid chatid"
			}
		}
	}
	if b.VisibleToUser != "" && (len(chats) != 1 || chats[0] == "") {
		return nil, 40058, "visible_to_user needs exactly one chatid"
	}
	return chats, 0, ""
}

// admit applies the per-chat minute window (45009 past it) and records
// the message.
func (w *WeCom) admit(chats []string, msg WeComMessage) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if w.perMin > 0 {
		for _, c := range chats {
			recent := w.sent[c][:0]
			for _, t := range w.sent[c] {
				if now.Sub(t) < w.window {
					recent = append(recent, t)
				}
			}
			w.sent[c] = recent
			if len(recent) >= w.perMin {
				return weComErr(45009, "api freq out of limit")
			}
		}
		for _, c := range chats {
			w.sent[c] = append(w.sent[c], now)
		}
	}
	if !w.noRecord {
		msg.At = now
		w.msgs = append(w.msgs, msg)
	}
	return weComErr(0, "ok")
}

func (w *WeCom) upload(r *http.Request) []byte {
	q := r.URL.Query()
	if q.Get("key") != w.Key {
		return weComErr(93000, "invalid webhook url")
	}
	typ := q.Get("type")
	if typ != "file" && typ != "voice" {
		return weComErr(40005, "invalid media type parameter")
	}
	if r.ContentLength < 0 {
		return weComErr(44001, "empty media data: no Content-Length")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return weComErr(44001, "empty media data: not multipart")
	}
	name, data, code, errmsg := mediaPart(mr)
	if code == 0 {
		code, errmsg = checkMedia(typ, data)
	}
	if code != 0 {
		return weComErr(code, errmsg)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	mediaID := base64.RawURLEncoding.EncodeToString(id[:])
	w.mu.Lock()
	now := w.now()
	w.media[mediaID] = weComMedia{typ: typ, name: name, data: data, at: now}
	w.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"errcode": 0, "errmsg": "ok", "type": typ, "media_id": mediaID,
		"created_at": strconv.FormatInt(now.Unix(), 10)})
	return b
}

// mediaPart reads the part named media: a raw UTF-8 quoted filename (an
// RFC 2231 filename*= is not understood: 44001) and filelength equal to
// the bytes that follow.
func mediaPart(mr *multipart.Reader) (name string, data []byte, code int, errmsg string) {
	for {
		part, err := mr.NextPart()
		if err != nil {
			return "", nil, 44001, "empty media data: no part named media"
		}
		if part.FormName() != "media" {
			continue
		}
		cd := part.Header.Get("Content-Disposition")
		if strings.Contains(cd, "filename*=") || !strings.Contains(cd, `filename="`) {
			return "", nil, 44001, "empty media data: filename must be a raw UTF-8 quoted string"
		}
		_, params, err := mime.ParseMediaType(cd)
		if err != nil || params["filename"] == "" {
			return "", nil, 44001, "empty media data: bad Content-Disposition"
		}
		data, err := io.ReadAll(io.LimitReader(part, 20<<20+1))
		if err != nil {
			return "", nil, 44001, "empty media data"
		}
		if fl, err := strconv.Atoi(params["filelength"]); err != nil || fl != len(data) {
			return "", nil, 44001, fmt.Sprintf("empty media data: filelength %q, got %d bytes", params["filelength"], len(data))
		}
		return params["filename"], data, 0, ""
	}
}

// checkMedia applies the upload limits: more than 5 bytes, 20 MB for a
// file, 2 MB of AMR for a voice.
func checkMedia(typ string, data []byte) (int, string) {
	switch {
	case len(data) <= 5:
		return 40006, "invalid file size: must be larger than 5 bytes"
	case typ == "file" && len(data) > 20<<20:
		return 40006, "invalid file size"
	case typ == "voice" && len(data) > 2<<20:
		return 40006, "invalid voice size"
	case typ == "voice" && !bytes.HasPrefix(data, []byte("#!AMR\n")):
		return 40004, "invalid media type: voice must be AMR"
	}
	return 0, ""
}
