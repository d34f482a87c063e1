package imtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imbridge/middleware/timchat"
)

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

// timRequest is one checked request, as the API handlers see it.
type timRequest struct {
	api      string
	b        timBody
	msg      TIMMessage // to record when accepted
	now      time.Time
	bodyHash [32]byte
}

// timHandler answers one API, under t.mu.
type timHandler func(t *TIM, req *timRequest) []byte

// handle checks what every API shares (signature, JSON, size, elements),
// then answers with h.
func (t *TIM) handle(api string, h timHandler, r *http.Request) []byte {
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
	req := &timRequest{api: api, now: now}
	if err := json.Unmarshal(raw, &req.b); err != nil {
		return timErr(90001, "json parse error")
	}
	if len(raw) > 12<<10+4096 { // the content limit plus the envelope
		return timErr(93000, "request body too long")
	}
	req.msg = TIMMessage{API: api, From: req.b.FromAccount, Body: raw, Offline: req.b.OfflinePushInfo, At: now}
	if req.msg.From == "" {
		req.msg.From = t.Admin
	}
	if code, info := t.elements(req.b.MsgBody, &req.msg); code != 0 {
		return timErr(code, info)
	}
	req.bodyHash = sha256.Sum256(req.b.MsgBody)
	t.mu.Lock()
	defer t.mu.Unlock()
	answer := h(t, req)
	if bytes.HasPrefix(answer, []byte(`{"ActionStatus":"FAIL"`)) {
		var a struct {
			ErrorCode int `json:"ErrorCode"`
		}
		if json.Unmarshal(answer, &a) == nil {
			t.answered[a.ErrorCode]++
		}
	}
	return answer
}

// Answered returns how many requests the emulator's APIs refused with
// ErrorCode code (90024 for broadcasts too close together, say), not
// counting injected faults or signature checks.
func (t *TIM) Answered(code int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.answered[code]
}

// record keeps an accepted message, unless recording is off; then the
// dedup keys are forgotten too, so a long benchmark does not grow.
func (t *TIM) record(msg TIMMessage) {
	if t.noRecord {
		clear(t.seen)
		return
	}
	t.msgs = append(t.msgs, msg)
}

// duplicate reports whether key was seen within window, and remembers it.
func (t *TIM) duplicate(key string, now time.Time, window time.Duration) bool {
	if at, ok := t.seen[key]; ok && now.Sub(at) < window {
		t.dropped++
		return true
	}
	t.seen[key] = now
	return false
}

// c2c answers openim/sendmsg and openim/batchsendmsg: the same sender,
// MsgSeq, MsgRandom and content within 120 s are dropped as duplicates.
func (t *TIM) c2c(req *timRequest) []byte {
	b, batch := req.b, req.api == "openim/batchsendmsg"
	if b.MsgRandom == nil {
		return timErr(90005, "MsgRandom is missing")
	}
	to, code, info := recipients(b.ToAccount, batch)
	if code != 0 {
		return timErr(code, info)
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
			if !batch {
				return timErr(20003, "invalid UserID: "+u)
			}
			errList = append(errList, map[string]any{"To_Account": u, "ErrorCode": 20003})
			continue
		}
		key := fmt.Sprintf("c2c|%s|%s|%d|%d|%x", req.msg.From, u, seq, *b.MsgRandom, req.bodyHash)
		if !t.duplicate(key, req.now, 120*time.Second) {
			accepted = append(accepted, u)
		}
	}
	if len(accepted) > 0 {
		req.msg.To = accepted
		t.record(req.msg)
	}
	if !batch {
		return timOK(map[string]any{"MsgTime": req.now.Unix(), "MsgKey": "k"})
	}
	if len(errList) == len(to) {
		return timErr(20003, "every recipient failed")
	}
	return timOK(map[string]any{"MsgKey": "k", "ErrorList": errList})
}

// recipients reads To_Account: one account for sendmsg, 1 to 500 for
// batchsendmsg.
func recipients(raw json.RawMessage, batch bool) ([]string, int, string) {
	if !batch {
		var one string
		if json.Unmarshal(raw, &one) != nil || one == "" {
			return nil, 90011, "To_Account must be a string"
		}
		return []string{one}, 0, ""
	}
	var to []string
	if json.Unmarshal(raw, &to) != nil || len(to) == 0 || len(to) > 500 {
		return nil, 90011, "To_Account must be an array of 1 to 500 accounts"
	}
	return to, 0, ""
}

// group answers send_group_msg: the same Random within 5 minutes is
// dropped as a duplicate.
func (t *TIM) group(req *timRequest) []byte {
	b := req.b
	switch {
	case b.Random == nil:
		return timErr(90005, "Random is missing")
	case b.GroupID == "":
		return timErr(10015, "invalid group id")
	case len(t.groups) > 0 && !t.groups[b.GroupID]:
		return timErr(10010, "group does not exist")
	}
	if !t.duplicate(fmt.Sprintf("group|%s|%d", b.GroupID, *b.Random), req.now, 5*time.Minute) {
		req.msg.Group, req.msg.OnlineOnly = b.GroupID, b.OnlineOnlyFlag == 1
		for _, at := range b.GroupAtInfo {
			if a, ok := at["GroupAt_Account"].(string); ok {
				req.msg.GroupAt = append(req.msg.GroupAt, a)
			}
		}
		t.record(req.msg)
		t.groupSeq++
	}
	return timOK(map[string]any{"MsgTime": req.now.Unix(), "MsgSeq": t.groupSeq})
}

// push answers timpush/push: more than a second apart, and a condition of
// one kind with at most 10 tags of at most 50 bytes.
func (t *TIM) push(req *timRequest) []byte {
	b := req.b
	if b.MsgRandom == nil {
		return timErr(90005, "MsgRandom is missing")
	}
	if !t.lastPush.IsZero() && req.now.Sub(t.lastPush) <= time.Second {
		return timErr(90024, "pushes must be more than 1 second apart")
	}
	if code, info := checkCondition(b.Condition); code != 0 {
		return timErr(code, info)
	}
	t.lastPush = req.now
	t.tasks++
	req.msg.Broadcast, req.msg.Condition, req.msg.OnlineOnly = true, b.Condition, b.OnlineOnlyFlag == 1
	t.record(req.msg)
	return timOK(map[string]any{"TaskId": fmt.Sprintf("task_%d", t.tasks)})
}

func checkCondition(c *timchat.Condition) (int, string) {
	if c == nil {
		return 0, ""
	}
	kinds := 0
	for _, n := range []int{len(c.TagsOr), len(c.TagsAnd), len(c.AttrsOr), len(c.AttrsAnd)} {
		if n > 0 {
			kinds++
		}
	}
	if kinds > 1 {
		return 90039, "attributes and tags are mutually exclusive"
	}
	for _, tags := range [][]string{c.TagsOr, c.TagsAnd} {
		if len(tags) > 10 {
			return 90032, "more than 10 tags"
		}
		for _, tag := range tags {
			if len(tag) > 50 {
				return 90020, "tag longer than 50 bytes"
			}
		}
	}
	return 0, ""
}
