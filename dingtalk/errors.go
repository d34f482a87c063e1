package dingtalk

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
)

// reply is DingTalk's answer; ErrCode is nil when the body had none.
type reply struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

var okAnswer = []byte(`{"errcode":0,"errmsg":"ok"}`)

// decodeReply reads an answer whatever its Content-Type: DingTalk reports
// failures inside HTTP 200 bodies. A redirect (said to answer a throttled
// robot), and a body without errcode, are never a success.
func decodeReply(resp *httpx.Response) error {
	if resp.Status >= 300 && resp.Status <= 399 {
		return outcome.NotPlatform(IM, resp)
	}
	if resp.Status == 200 && bytes.Equal(resp.Body, okAnswer) {
		return nil
	}
	var r reply
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.ErrCode == nil {
		return outcome.NotPlatform(IM, resp)
	}
	if *r.ErrCode != 0 {
		e := apiError(*r.ErrCode, r.ErrMsg, resp.Status)
		if d, ok := httpx.RetryAfter(resp.Header, time.Now()); ok && e.Kind == middleware.ErrRateLimited {
			e.RetryAfter = max(e.RetryAfter, d)
		}
		return e
	}
	if resp.Status < 200 || resp.Status > 299 {
		return outcome.NotPlatform(IM, resp)
	}
	return nil
}

// apiError maps an errcode to its category. DingTalk's newer errmsg is a
// long Chinese sentence: codes decide, never the text.
func apiError(code int, msg string, status int) *middleware.APIError {
	e := &middleware.APIError{Backend: IM, Code: code, Message: msg, HTTPStatus: status}
	switch {
	case throttle(code):
		e.Kind, e.RetryAfter = middleware.ErrRateLimited, Block
		e.Hint = "DingTalk throttles the robot for 10 minutes after 20 messages a minute"
	case code == 310000:
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "the robot's security settings refused it: a keyword missing from the text, a wrong or stale signature " +
			"(check WithSecret and the clock), or this IP not on the allowlist"
	case code == 300001 || code == 300005:
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "no robot has this access token: check the webhook URL"
	case code == 400013 || code == 400102 || code == 400106:
		e.Kind = middleware.ErrAccountOffline
		e.Hint = "the robot is disabled or removed, or its group disbanded"
	case code == 460101 || code == 101002:
		e.Kind = middleware.ErrTooLarge
	case code == -1:
		// "System busy": DingTalk does not say the message was not
		// posted, so it is not retried and not called a failure.
		e.Kind = middleware.ErrMaybeDelivered
		e.Hint = "DingTalk answered 'system busy'; whether the message was posted is not documented: check the group"
	case code == 40035:
		e.Kind = middleware.ErrInvalidItem
	}
	return e
}

// throttle reports the codes of a throttled robot.
func throttle(code int) bool { return code == 130101 || code == 410100 }
