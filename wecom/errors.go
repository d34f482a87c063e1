package wecom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/imbridge/middleware"
)

// rateWindow is how long WeCom blocks a bot after 45009: until the minute
// window passes.
const rateWindow = time.Minute

// reply is the envelope of every WeCom answer.
type reply struct {
	ErrCode   *int   `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt string `json:"created_at"`
}

var (
	okAnswer = []byte(`{"errcode":0,"errmsg":"ok"}`)
	zero     = 0
	okReply  = reply{ErrCode: &zero, ErrMsg: "ok"}
)

// decodeReply reads an answer whatever its status and Content-Type: WeCom
// reports failures inside HTTP 200 bodies. A body without errcode is an
// error, never a success.
func decodeReply(status int, body []byte) (*reply, error) {
	if bytes.Equal(body, okAnswer) {
		return &okReply, nil // the answer to nearly every send, without a parse
	}
	var r reply
	if err := json.Unmarshal(body, &r); err != nil || r.ErrCode == nil {
		// The request reached WeCom, or something in front of it: the
		// message may have been delivered.
		e := &middleware.APIError{Backend: "wecom", Code: status, HTTPStatus: status, Kind: middleware.ErrMaybeDelivered,
			Message: fmt.Sprintf("unreadable answer (%d bytes); the message may have been delivered", len(body))}
		if status >= 500 {
			e.Message = fmt.Sprintf("HTTP %d with an unreadable answer", status)
		}
		return nil, e
	}
	if *r.ErrCode != 0 {
		return nil, apiError(*r.ErrCode, r.ErrMsg, status)
	}
	return &r, nil
}

// apiError maps an errcode to its category.
func apiError(code int, msg string, status int) *middleware.APIError {
	e := &middleware.APIError{Backend: "wecom", Code: code, Message: msg, HTTPStatus: status}
	switch code {
	case 45009:
		e.Kind, e.RetryAfter = middleware.ErrRateLimited, rateWindow
	case 45033:
		e.Kind = middleware.ErrRateLimited
	case 93000, 93004, 93008:
		e.Kind = middleware.ErrAccountOffline
		if code == 93000 {
			e.Hint = "check the webhook key, and that the bot is still in its group"
		}
	case 40058, 45002, 45001, 40006, 40009, 40011:
		e.Kind = middleware.ErrTooLarge
	case 93005, 93006:
		e.Kind = middleware.ErrInvalidTarget
	case 40004, 40005, 44001, 44004, 45007, 45008, 301019, 40008:
		e.Kind = middleware.ErrInvalidItem
	}
	return e
}

// retryable reports whether code was refused before delivery and is worth
// another try: system busy, concurrency limit.
func retryable(code int) bool { return code == -1 || code == 45033 }
