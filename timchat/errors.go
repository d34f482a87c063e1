package timchat

import (
	"encoding/json"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
)

// IM is the name of this platform in Account.IM, APIError.Backend and log
// records: "tim", as bots name it when they push (the package is named
// for the product, Tencent Cloud Chat).
const IM = "tim"

// errorEntry is a per-recipient failure of batchsendmsg.
type errorEntry struct {
	ToAccount string `json:"To_Account"`
	ErrorCode int    `json:"ErrorCode"`
}

// reply is the envelope of every TIM answer.
type reply struct {
	ActionStatus string       `json:"ActionStatus"`
	ErrorCode    *int         `json:"ErrorCode"`
	ErrorInfo    string       `json:"ErrorInfo"`
	ErrorList    []errorEntry `json:"ErrorList"`
	MsgTime      int64        `json:"MsgTime"`
	MsgKey       string       `json:"MsgKey"`
	MsgSeq       uint64       `json:"MsgSeq"`
	TaskID       string       `json:"TaskId"`
	ResultItem   []struct {
		UserID        string `json:"UserID"`
		AccountStatus string `json:"AccountStatus"`
	} `json:"ResultItem"`
}

// decodeReply reads an answer whatever its Content-Type. A redirect, and a
// body that is not TIM's JSON (a proxy page, a cut body), are errors, never
// a success (httpx.NotPlatform says which kind).
func decodeReply(resp *httpx.Response) (*reply, error) {
	if resp.Status >= 300 && resp.Status <= 399 {
		return nil, outcome.NotPlatform(IM, resp)
	}
	var r reply
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.ErrorCode == nil {
		return nil, outcome.NotPlatform(IM, resp)
	}
	if *r.ErrorCode != 0 || r.ActionStatus == "FAIL" {
		e := apiError(*r.ErrorCode, r.ErrorInfo, resp.Status)
		if d, ok := httpx.RetryAfter(resp.Header, time.Now()); ok && d > e.RetryAfter {
			e.RetryAfter = d
		}
		return &r, e
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, outcome.NotPlatform(IM, resp)
	}
	return &r, nil
}

func apiError(code int, info string, status int) *middleware.APIError {
	e := &middleware.APIError{Backend: IM, Code: code, Message: info, HTTPStatus: status}
	switch code {
	case 90024, 90047, 60007, 60011, 60018, 60019, 10023:
		e.Kind = middleware.ErrRateLimited
		if code == 90024 {
			e.RetryAfter = pushGap
		}
	case 20003, 90012, 10010, 10015:
		e.Kind = middleware.ErrInvalidTarget
	case 80002, 93000:
		e.Kind = middleware.ErrTooLarge
	case 70016, 70020:
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "check Config.Region: the SDKAppID may live in another region"
	case 70001, 70052:
		// Renewed once before this is returned (see call): still refused.
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "the usersig was refused"
	case 70002, 70003, 70004, 70005, 70006, 70007, 70008, 70009, 70010, 70013, 70014, 70015, 70017, 70018, 70019, 70051:
		// The usersig, the identifier or the SDKAppID: nothing sent, and
		// no resend helps until the configuration changes.
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "check SDKAppID, SecretKey and Admin (an App admin account)"
	case 70050:
		e.RetryAfter = time.Minute
		e.Hint = "too many failed signature checks; wait a minute"
	case 90045:
		e.Hint = "enable the push-to-all feature in the Chat console"
	}
	return e
}

// transient reports whether code is worth retrying with the same dedup
// keys.
func transient(code int) bool {
	switch code {
	case 60007, 60008, 60011, 60018, 60019, 10002, 10006, 10023, 20004, 20005,
		90992, 90994, 90995, 91000, 90024:
		return true
	}
	return false
}

func sigRefused(code int) bool { return code == 70001 || code == 70052 }
