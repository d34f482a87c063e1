package imtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
	lis      net.Listener
	mu       sync.Mutex
	now      func() time.Time
	msgs     []TIMMessage
	seen     map[string]time.Time // dedup keys
	lastPush time.Time
	users    map[string]bool
	groups   map[string]bool
	requests int
	dropped  int
	answered map[int]int // ErrorCode -> how many answers
	groupSeq int         // MsgSeq of accepted group messages
	tasks    int         // TaskId of accepted pushes
	noRecord bool
	hc       *http.Client
}

// TIMOption configures NewTIM.
type TIMOption func(*TIM)

// WithTIMApp sets the app the emulator accepts. Default: a random
// SDKAppID and SecretKey, and the admin "administrator", in the TIM's
// fields.
func WithTIMApp(sdkAppID uint64, secretKey, admin string) TIMOption {
	return func(t *TIM) { t.SDKAppID, t.SecretKey, t.Admin = sdkAppID, secretKey, admin }
}

// WithTIMClock sets the clock that checks usersig expiry, dedup windows
// and push spacing. Default: time.Now.
func WithTIMClock(now func() time.Time) TIMOption { return func(t *TIM) { t.now = now } }

// WithTIMListener serves the emulator on l instead of a random loopback
// port. Close closes l.
func WithTIMListener(l net.Listener) TIMOption { return func(t *TIM) { t.lis = l } }

// WithTIMRecording(false) stops keeping accepted messages and dedup keys,
// so a long benchmark does not grow the heap. Default: on.
func WithTIMRecording(on bool) TIMOption { return func(t *TIM) { t.noRecord = !on } }

// NewTIM starts a TIM emulator for one app: its credentials are the
// SDKAppID, SecretKey and Admin fields (see WithTIMApp). Close it when done.
func NewTIM(opts ...TIMOption) *TIM {
	var b [16]byte
	_, _ = rand.Read(b[:])
	t := &TIM{SDKAppID: 1400000000 + uint64(b[0])<<8 | uint64(b[1]), SecretKey: hex.EncodeToString(b[:]), Admin: "administrator",
		now: time.Now, seen: map[string]time.Time{}, users: map[string]bool{}, groups: map[string]bool{}, answered: map[int]int{},
		hc: &http.Client{Timeout: 5 * time.Second}}
	for _, o := range opts {
		o(t)
	}
	mux := http.NewServeMux()
	for api, h := range map[string]timHandler{
		"openim/sendmsg": (*TIM).c2c, "openim/batchsendmsg": (*TIM).c2c,
		"group_open_http_svc/send_group_msg": (*TIM).group, "timpush/push": (*TIM).push,
	} {
		mux.HandleFunc("/v4/"+api, func(w http.ResponseWriter, r *http.Request) {
			t.mu.Lock()
			t.requests++
			t.mu.Unlock()
			t.Faults.serve(w, r, func() []byte { return t.handle(api, h, r) }, func(code int) []byte {
				return timErr(code, "injected")
			})
		})
	}
	mux.HandleFunc("/v4/im_open_login_svc/account_check", func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		t.requests++
		t.mu.Unlock()
		t.Faults.serve(w, r, func() []byte { return t.accountCheck(r) }, func(code int) []byte { return timErr(code, "injected") })
	})
	t.srv = serve(mux, t.lis)
	t.URL = t.srv.URL
	return t
}

// accountCheck answers v4/im_open_login_svc/account_check as the REST API
// does: signed like any call, at most 100 accounts, each Imported or
// NotImported (every account is imported until AddUsers names some). It
// sends nothing, so a tool can prove its credentials with it.
func (t *TIM) accountCheck(r *http.Request) []byte {
	t.mu.Lock()
	now := t.now()
	t.mu.Unlock()
	if code, info := t.checkQuery(r.URL.Query(), now); code != 0 {
		return timErr(code, info)
	}
	var b struct {
		CheckItem []struct{ UserID string } `json:"CheckItem"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&b); err != nil || len(b.CheckItem) == 0 || len(b.CheckItem) > 100 {
		return timErr(90001, "CheckItem must hold 1 to 100 accounts")
	}
	type result struct {
		UserID        string
		ResultCode    int
		ResultInfo    string
		AccountStatus string
	}
	out := struct {
		ActionStatus string
		ErrorCode    int
		ErrorInfo    string
		ResultItem   []result
	}{ActionStatus: "OK"}
	t.mu.Lock()
	for _, c := range b.CheckItem {
		status := "Imported"
		if len(t.users) > 0 && !t.users[c.UserID] && c.UserID != t.Admin {
			status = "NotImported"
		}
		out.ResultItem = append(out.ResultItem, result{UserID: c.UserID, AccountStatus: status})
	}
	t.mu.Unlock()
	data, _ := json.Marshal(out)
	return data
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
