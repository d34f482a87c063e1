package imtest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imbridge/middleware/timchat"
)

// TIMMessage is a message the TIM emulator accepted, decoded.
type TIMMessage struct {
	// API is the command, such as "openim/sendmsg".
	API string
	// From is From_Account, or the admin when absent.
	From string
	// To lists the users of sendmsg and batchsendmsg.
	To []string
	// Group is the GroupId of send_group_msg.
	Group string
	// GroupAt lists the mentioned members of a group message.
	GroupAt []string
	// Broadcast is true for timpush/push; Condition is its condition.
	Broadcast bool
	Condition *timchat.Condition
	// Elements is MsgBody, each MsgContent decoded into its timchat type.
	Elements []timchat.Element
	// OnlineOnly is the group or push OnlineOnlyFlag.
	OnlineOnly bool
	// Offline is the OfflinePushInfo.
	Offline *timchat.OfflinePushInfo
	// Body is the request body as received.
	Body []byte
	// At is when it was accepted.
	At time.Time
}

// TIM emulates the Tencent Cloud IM REST API on loopback: sendmsg,
// batchsendmsg, send_group_msg and timpush/push.
type TIM struct {
	// URL is the base URL to give timchat.Config.BaseURL.
	URL string
	// SDKAppID, SecretKey and Admin are the app it accepts.
	SDKAppID  uint64
	SecretKey string
	Admin     string
	// Faults injects failures.
	Faults

	srv      *httptest.Server
	mu       sync.Mutex
	now      func() time.Time
	msgs     []TIMMessage
	seen     map[string]time.Time // dedup keys
	lastPush time.Time
	users    map[string]bool
	groups   map[string]bool
	requests int
	dropped  int
	noRecord bool
	hc       *http.Client
}

// NewTIM starts a TIM emulator for one app. Close it when done.
func NewTIM(sdkAppID uint64, secretKey, admin string) *TIM {
	t := &TIM{SDKAppID: sdkAppID, SecretKey: secretKey, Admin: admin, now: time.Now,
		seen: map[string]time.Time{}, users: map[string]bool{}, groups: map[string]bool{},
		hc: &http.Client{Timeout: 5 * time.Second}}
	mux := http.NewServeMux()
	for _, api := range []string{"openim/sendmsg", "openim/batchsendmsg", "group_open_http_svc/send_group_msg", "timpush/push"} {
		api := api
		mux.HandleFunc("/v4/"+api, func(w http.ResponseWriter, r *http.Request) {
			t.mu.Lock()
			t.requests++
			t.mu.Unlock()
			t.Faults.serve(w, r, func() []byte { return t.handle(api, r) }, func(code int) []byte {
				return timErr(code, "injected")
			})
		})
	}
	t.srv = httptest.NewServer(mux)
	t.URL = t.srv.URL
	return t
}

// SetClock sets the clock that checks usersig expiry, dedup windows and
// push spacing. Default: time.Now.
func (t *TIM) SetClock(now func() time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = now
}

// SetRecording(false) stops keeping accepted messages and dedup keys, so
// a long benchmark does not grow the heap. Default: on.
func (t *TIM) SetRecording(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noRecord = !on
}

// AddUsers registers imported accounts. Once any is registered, messages to
// others fail with 20003 (or in batchsendmsg's ErrorList).
func (t *TIM) AddUsers(ids ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		t.users[id] = true
	}
}

// AddGroups registers groups. Once any is registered, others fail with
// 10010.
func (t *TIM) AddGroups(ids ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		t.groups[id] = true
	}
}

// Close stops the server.
func (t *TIM) Close() { t.srv.Close() }

// Messages returns the accepted messages in order, duplicates dropped.
func (t *TIM) Messages() []TIMMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]TIMMessage(nil), t.msgs...)
}

// Requests returns how many requests reached the emulator.
func (t *TIM) Requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests
}

// Duplicates returns how many requests were dropped as duplicates.
func (t *TIM) Duplicates() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

func timErr(code int, info string) []byte {
	b, _ := json.Marshal(map[string]any{"ActionStatus": "FAIL", "ErrorCode": code, "ErrorInfo": info})
	return b
}

func timOK(extra map[string]any) []byte {
	m := map[string]any{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// checkQuery verifies the signed query string the way the server does.
func (t *TIM) checkQuery(q url.Values, now time.Time) (int, string) {
	if q.Get("contenttype") != "json" {
		return 70002, "contenttype must be json"
	}
	if _, err := strconv.ParseUint(q.Get("random"), 10, 32); err != nil {
		return 70002, "random must be a 32-bit unsigned integer"
	}
	if q.Get("sdkappid") != strconv.FormatUint(t.SDKAppID, 10) {
		return 70003, "invalid sdkappid"
	}
	if q.Get("identifier") != t.Admin {
		return 70013, "identifier is not an app admin"
	}
	_, err := timchat.VerifyUserSig(q.Get("usersig"), t.SDKAppID, t.SecretKey, t.Admin, now)
	switch {
	case err == nil:
		return 0, ""
	case err == timchat.ErrSigExpired:
		return 70001, "usersig expired"
	case strings.Contains(err.Error(), "another app or identifier"):
		return 70013, "usersig not signed for this identifier"
	}
	return 70052, "usersig invalid"
}

type timBody struct {
	FromAccount     string                   `json:"From_Account"`
	ToAccount       json.RawMessage          `json:"To_Account"`
	GroupID         string                   `json:"GroupId"`
	MsgRandom       *uint32                  `json:"MsgRandom"`
	Random          *uint32                  `json:"Random"`
	MsgSeq          *uint32                  `json:"MsgSeq"`
	MsgBody         json.RawMessage          `json:"MsgBody"`
	MsgLifeTime     *int64                   `json:"MsgLifeTime"`
	OnlineOnlyFlag  int                      `json:"OnlineOnlyFlag"`
	GroupAtInfo     []map[string]any         `json:"GroupAtInfo"`
	Condition       *timchat.Condition       `json:"Condition"`
	OfflinePushInfo *timchat.OfflinePushInfo `json:"OfflinePushInfo"`
}

func (t *TIM) handle(api string, r *http.Request) []byte {
	t.mu.Lock()
	now := t.now()
	t.mu.Unlock()
	if code, info := t.checkQuery(r.URL.Query(), now); code != 0 {
		return timErr(code, info)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return timErr(91000, "internal")
	}
	var b timBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return timErr(90001, "json parse error")
	}
	if len(raw) > 12<<10+4096 { // the content limit plus the envelope
		return timErr(93000, "request body too long")
	}
	msg := TIMMessage{API: api, From: b.FromAccount, Body: raw, Offline: b.OfflinePushInfo, At: now}
	if msg.From == "" {
		msg.From = t.Admin
	}
	if code, info := t.elements(b.MsgBody, &msg); code != 0 {
		return timErr(code, info)
	}
	bodyHash := sha256.Sum256(b.MsgBody)

	t.mu.Lock()
	defer t.mu.Unlock()
	switch api {
	case "openim/sendmsg", "openim/batchsendmsg":
		if b.MsgRandom == nil {
			return timErr(90005, "MsgRandom is missing")
		}
		var to []string
		if api == "openim/sendmsg" {
			var one string
			if json.Unmarshal(b.ToAccount, &one) != nil || one == "" {
				return timErr(90011, "To_Account must be a string")
			}
			to = []string{one}
		} else if json.Unmarshal(b.ToAccount, &to) != nil || len(to) == 0 || len(to) > 500 {
			return timErr(90011, "To_Account must be an array of 1 to 500 accounts")
		}
		if b.MsgLifeTime != nil && (*b.MsgLifeTime < 0 || *b.MsgLifeTime > 604800) {
			return timErr(90026, "invalid MsgLifeTime")
		}
		seq := uint32(0)
		if b.MsgSeq != nil {
			seq = *b.MsgSeq
		}
		var errList []map[string]any
		var accepted []string
		for _, u := range to {
			if len(t.users) > 0 && !t.users[u] {
				if api == "openim/sendmsg" {
					return timErr(20003, "invalid UserID: "+u)
				}
				errList = append(errList, map[string]any{"To_Account": u, "ErrorCode": 20003})
				continue
			}
			key := fmt.Sprintf("c2c|%s|%s|%d|%d|%x", msg.From, u, seq, *b.MsgRandom, bodyHash)
			if at, ok := t.seen[key]; ok && now.Sub(at) < 120*time.Second {
				t.dropped++
				continue
			}
			t.seen[key] = now
			accepted = append(accepted, u)
		}
		if len(accepted) > 0 && !t.noRecord {
			msg.To = accepted
			t.msgs = append(t.msgs, msg)
		}
		if t.noRecord {
			clear(t.seen)
		}
		if api == "openim/batchsendmsg" {
			if len(errList) == len(to) {
				return timErr(20003, "every recipient failed")
			}
			return timOK(map[string]any{"MsgKey": "k", "ErrorList": errList})
		}
		return timOK(map[string]any{"MsgTime": now.Unix(), "MsgKey": "k"})
	case "group_open_http_svc/send_group_msg":
		if b.Random == nil {
			return timErr(90005, "Random is missing")
		}
		if b.GroupID == "" {
			return timErr(10015, "invalid group id")
		}
		if len(t.groups) > 0 && !t.groups[b.GroupID] {
			return timErr(10010, "group does not exist")
		}
		key := fmt.Sprintf("group|%s|%d", b.GroupID, *b.Random)
		if at, ok := t.seen[key]; ok && now.Sub(at) < 5*time.Minute {
			t.dropped++
			return timOK(map[string]any{"MsgTime": now.Unix(), "MsgSeq": len(t.msgs)})
		}
		t.seen[key] = now
		msg.Group, msg.OnlineOnly = b.GroupID, b.OnlineOnlyFlag == 1
		for _, at := range b.GroupAtInfo {
			if a, ok := at["GroupAt_Account"].(string); ok {
				msg.GroupAt = append(msg.GroupAt, a)
			}
		}
		t.msgs = append(t.msgs, msg)
		return timOK(map[string]any{"MsgTime": now.Unix(), "MsgSeq": len(t.msgs)})
	case "timpush/push":
		if b.MsgRandom == nil {
			return timErr(90005, "MsgRandom is missing")
		}
		if !t.lastPush.IsZero() && now.Sub(t.lastPush) <= time.Second {
			return timErr(90024, "pushes must be more than 1 second apart")
		}
		if c := b.Condition; c != nil {
			kinds := 0
			for _, n := range []int{len(c.TagsOr), len(c.TagsAnd), len(c.AttrsOr), len(c.AttrsAnd)} {
				if n > 0 {
					kinds++
				}
			}
			if kinds > 1 {
				return timErr(90039, "attributes and tags are mutually exclusive")
			}
			for _, tags := range [][]string{c.TagsOr, c.TagsAnd} {
				if len(tags) > 10 {
					return timErr(90032, "more than 10 tags")
				}
				for _, tag := range tags {
					if len(tag) > 50 {
						return timErr(90020, "tag longer than 50 bytes")
					}
				}
			}
		}
		t.lastPush = now
		msg.Broadcast, msg.Condition, msg.OnlineOnly = true, b.Condition, b.OnlineOnlyFlag == 1
		t.msgs = append(t.msgs, msg)
		return timOK(map[string]any{"TaskId": fmt.Sprintf("task_%d", len(t.msgs))})
	}
	return timErr(90001, "unknown api")
}

// elementKeys lists every key each element may carry, spelled as TIM
// spells them; anything else is a format error.
var elementKeys = map[string]map[string]bool{
	timchat.TypeText:     keys("Text"),
	timchat.TypeLocation: keys("Desc", "Latitude", "Longitude"),
	timchat.TypeFace:     keys("Index", "Data"),
	timchat.TypeCustom:   keys("Data", "Desc", "Ext", "Sound"),
	timchat.TypeSound:    keys("Url", "UUID", "Size", "Second", "Download_Flag"),
	timchat.TypeImage:    keys("UUID", "ImageFormat", "ImageInfoArray"),
	timchat.TypeFile:     keys("Url", "UUID", "FileSize", "FileName", "Download_Flag"),
	timchat.TypeVideo: keys("VideoUrl", "VideoUUID", "VideoSize", "VideoSecond", "VideoFormat", "VideoDownloadFlag",
		"ThumbUrl", "ThumbUUID", "ThumbSize", "ThumbWidth", "ThumbHeight", "ThumbFormat", "ThumbDownloadFlag"),
}

var imageInfoKeys = keys("Type", "Size", "Width", "Height", "URL")

func keys(ks ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// elements checks MsgBody: types, key spelling, required fields, one
// custom element at most, and that loopback media URLs serve what the
// element says.
func (t *TIM) elements(raw json.RawMessage, msg *TIMMessage) (int, string) {
	var items []struct {
		MsgType    string                     `json:"MsgType"`
		MsgContent map[string]json.RawMessage `json:"MsgContent"`
	}
	if len(raw) == 0 || raw[0] != '[' {
		return 90007, "MsgBody must be an array"
	}
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return 90002, "MsgBody does not meet the message format"
	}
	customs := 0
	for i, it := range items {
		allowed, ok := elementKeys[it.MsgType]
		if !ok {
			return 90002, fmt.Sprintf("element %d: unknown MsgType %q", i, it.MsgType)
		}
		var present []string
		for k := range it.MsgContent {
			if !allowed[k] {
				return 90010, fmt.Sprintf("element %d (%s): unknown key %q", i, it.MsgType, k)
			}
			present = append(present, k)
		}
		sort.Strings(present)
		str := func(k string) string {
			var s string
			_ = json.Unmarshal(it.MsgContent[k], &s)
			return s
		}
		num := func(k string) int64 {
			var n int64
			_ = json.Unmarshal(it.MsgContent[k], &n)
			return n
		}
		need := func(ks ...string) (int, string) {
			for _, k := range ks {
				if _, ok := it.MsgContent[k]; !ok {
					return 90010, fmt.Sprintf("element %d (%s): %s is required", i, it.MsgType, k)
				}
			}
			return 0, ""
		}
		var code int
		var info string
		switch it.MsgType {
		case timchat.TypeText:
			if code, info = need("Text"); code == 0 && str("Text") == "" {
				code, info = 90010, "empty Text"
			}
		case timchat.TypeCustom:
			customs++
		case timchat.TypeSound, timchat.TypeFile:
			if code, info = need("Url", "UUID", "Download_Flag"); code == 0 {
				if num("Download_Flag") != 2 {
					code, info = 90010, "Download_Flag must be 2"
				} else {
					size := num("Size")
					if it.MsgType == timchat.TypeFile {
						size = num("FileSize")
					}
					code, info = t.checkURL(str("Url"), size)
				}
			}
		case timchat.TypeImage:
			var infos []map[string]json.RawMessage
			if code, info = need("UUID", "ImageInfoArray"); code == 0 {
				if json.Unmarshal(it.MsgContent["ImageInfoArray"], &infos) != nil || len(infos) == 0 {
					code, info = 90010, "ImageInfoArray must be a non-empty array"
				}
			}
			for _, in := range infos {
				for k := range in {
					if !imageInfoKeys[k] {
						return 90010, fmt.Sprintf("element %d: ImageInfoArray has unknown key %q", i, k)
					}
				}
				for _, k := range []string{"URL", "Width", "Height", "Type"} {
					if _, ok := in[k]; !ok && code == 0 {
						code, info = 90010, "ImageInfoArray entries need "+k
					}
				}
				if code == 0 {
					var u string
					var size int64
					_ = json.Unmarshal(in["URL"], &u)
					_ = json.Unmarshal(in["Size"], &size)
					code, info = t.checkURL(u, size)
				}
			}
		case timchat.TypeVideo:
			code, info = need("VideoUrl", "VideoUUID", "VideoDownloadFlag", "ThumbUrl", "ThumbUUID", "ThumbDownloadFlag", "ThumbWidth", "ThumbHeight")
			if code == 0 && (num("VideoDownloadFlag") != 2 || num("ThumbDownloadFlag") != 2) {
				code, info = 90010, "video download flags must be 2"
			}
			if code == 0 {
				code, info = t.checkURL(str("VideoUrl"), num("VideoSize"))
			}
			if code == 0 {
				code, info = t.checkURL(str("ThumbUrl"), num("ThumbSize"))
			}
		}
		if code != 0 {
			return code, info
		}
	}
	if customs > 1 {
		return 90010, "at most one TIMCustomElem per message"
	}
	var decoded []timchat.Element
	if err := json.Unmarshal(raw, &decoded); err != nil {
		return 90002, "MsgBody does not decode"
	}
	msg.Elements = decoded
	return 0, ""
}

// checkURL fetches a media URL served on loopback (the MediaHost, a test
// server) and checks that it serves size bytes, as a receiving client
// would. Other URLs are not fetched: the emulator reaches no network.
func (t *TIM) checkURL(raw string, size int64) (int, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 90010, fmt.Sprintf("media URL %q is not an http(s) URL", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return 0, ""
	}
	resp, err := t.hc.Get(raw)
	if err != nil {
		return 90010, "media URL does not answer"
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 90010, fmt.Sprintf("media URL answers HTTP %d", resp.StatusCode)
	}
	if size != 0 && n != size {
		return 90010, fmt.Sprintf("media URL serves %d bytes, the element says %d", n, size)
	}
	return 0, ""
}
