package wecom

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
)

// reply is the envelope of every WeCom answer; ErrCode is nil when the
// body had none.
type reply struct {
	ErrCode   *int   `json:"errcode"`
	ErrMsg    string `json:"errmsg"`
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt string `json:"created_at"`
}

// answer is a successful reply, by value: what the sends read of it.
type answer struct {
	MediaID string
}

var okAnswer = []byte(`{"errcode":0,"errmsg":"ok"}`)

// decodeReply reads an answer whatever its Content-Type: WeCom reports
// failures inside HTTP 200 bodies. A redirect, and a body without errcode,
// are errors, never a success (httpx.NotPlatform says which kind). window
// is the client's rate window: how long a 45009 blocks the bot.
func decodeReply(resp *httpx.Response, window time.Duration) (answer, error) {
	if resp.Status >= 300 && resp.Status <= 399 {
		return answer{}, outcome.NotPlatform(IM, resp)
	}
	if resp.Status == 200 && bytes.Equal(resp.Body, okAnswer) {
		return answer{}, nil // the answer to nearly every send, without a parse
	}
	var r reply
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.ErrCode == nil {
		return answer{}, outcome.NotPlatform(IM, resp)
	}
	if *r.ErrCode != 0 {
		e := apiError(*r.ErrCode, r.ErrMsg, resp.Status, window)
		if e.Kind == nil && resp.Status == 429 {
			e.Kind = middleware.ErrRateLimited
		}
		if d, ok := httpx.RetryAfter(resp.Header, time.Now()); ok && e.Kind == middleware.ErrRateLimited {
			e.RetryAfter = max(e.RetryAfter, d)
		}
		return answer{}, e
	}
	if resp.Status < 200 || resp.Status > 299 {
		return answer{}, outcome.NotPlatform(IM, resp)
	}
	return answer{MediaID: r.MediaID}, nil
}

// apiError maps an errcode to its category; a 45009 is retried after
// window.
func apiError(code int, msg string, status int, window time.Duration) *middleware.APIError {
	e := &middleware.APIError{Backend: IM, Code: code, Message: msg, HTTPStatus: status}
	switch code {
	case 45009:
		e.Kind, e.RetryAfter = middleware.ErrRateLimited, window
	case 45033:
		e.Kind = middleware.ErrRateLimited
	case 93000:
		// An unknown key, or a bot removed from its group: no resend helps
		// until the configuration changes.
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "check the webhook key, and that the bot is still in its group"
	case 93004:
		e.Kind = middleware.ErrAccountOffline // disabled by WeCom
	case 93008:
		e.Kind = middleware.ErrInvalidTarget // a chatid the bot is not in
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
