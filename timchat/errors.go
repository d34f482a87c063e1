package timchat

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/imbridge/middleware"
)

// ErrorEntry is a per-recipient failure of batchsendmsg.
type ErrorEntry struct {
	ToAccount string `json:"To_Account"`
	ErrorCode int    `json:"ErrorCode"`
}

// reply is the envelope of every TIM answer.
type reply struct {
	ActionStatus string       `json:"ActionStatus"`
	ErrorCode    *int         `json:"ErrorCode"`
	ErrorInfo    string       `json:"ErrorInfo"`
	ErrorList    []ErrorEntry `json:"ErrorList"`
	MsgTime      int64        `json:"MsgTime"`
	MsgKey       string       `json:"MsgKey"`
	MsgSeq       uint64       `json:"MsgSeq"`
	TaskID       string       `json:"TaskId"`
}

// errUnreadable marks an answer that is not TIM JSON (a proxy page, a cut
// body). Retrying is safe: the server deduplicates.
type errUnreadable struct {
	status int
	size   int
}

func (e *errUnreadable) Error() string {
	return fmt.Sprintf("timchat: unreadable answer (HTTP %d, %d bytes); the message may have been delivered", e.status, e.size)
}

// Unwrap says the request reached something: it may have been delivered.
func (e *errUnreadable) Unwrap() error { return middleware.ErrMaybeDelivered }

// decodeReply reads an answer whatever its status and Content-Type.
func decodeReply(status int, body []byte) (*reply, error) {
	var r reply
	if err := json.Unmarshal(body, &r); err != nil || r.ErrorCode == nil {
		if status >= 500 {
			return nil, &middleware.APIError{Backend: "timchat", Code: status, HTTPStatus: status, Message: "server error"}
		}
		return nil, &errUnreadable{status: status, size: len(body)}
	}
	if *r.ErrorCode != 0 || r.ActionStatus == "FAIL" {
		code := *r.ErrorCode
		return &r, apiError(code, r.ErrorInfo, status)
	}
	return &r, nil
}

func apiError(code int, info string, status int) *middleware.APIError {
	e := &middleware.APIError{Backend: "timchat", Code: code, Message: info, HTTPStatus: status}
	switch code {
	case 90024, 90047, 60007, 60011, 60018, 60019, 10023:
		e.Kind = middleware.ErrRateLimited
		if code == 90024 {
			e.RetryAfter = pushSpacing
		}
	case 20003, 90012, 10010, 10015:
		e.Kind = middleware.ErrInvalidTarget
	case 80002, 93000:
		e.Kind = middleware.ErrTooLarge
	case 70016, 70020:
		e.Hint = "check Config.Region: the SDKAppID may live in another region"
	case 70001, 70052:
		e.Hint = "the usersig was refused"
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
	return code >= 500 && code <= 599 // HTTP status when the body had no code
}

func sigRefused(code int) bool { return code == 70001 || code == 70052 }
