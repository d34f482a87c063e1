package feishu

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
)

// reply is a Feishu answer: code and msg (StatusCode and StatusMessage are
// legacy duplicates, read only when code is missing).
type reply struct {
	Code       *int   `json:"code"`
	Msg        string `json:"msg"`
	StatusCode *int   `json:"StatusCode"`
}

// decodeReply reads a webhook answer whatever its Content-Type: Feishu
// reports failures inside HTTP 200 bodies. A redirect, and a body without
// a code, are never a success.
func decodeReply(resp *httpx.Response) error {
	if resp.Status >= 300 && resp.Status <= 399 {
		return outcome.NotPlatform(IM, resp)
	}
	var r reply
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return outcome.NotPlatform(IM, resp)
	}
	code := r.Code
	if code == nil {
		code = r.StatusCode
	}
	if code == nil {
		return outcome.NotPlatform(IM, resp)
	}
	if *code != 0 {
		e := apiError(*code, r.Msg, resp.Status)
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

// apiError maps a webhook code to its category; codes decide, never text.
func apiError(code int, msg string, status int) *middleware.APIError {
	e := &middleware.APIError{Backend: IM, Code: code, Message: msg, HTTPStatus: status}
	switch code {
	case 11232:
		e.Kind, e.RetryAfter = middleware.ErrRateLimited, time.Second
		e.Hint = "Feishu allows a bot 100 requests a minute and 5 a second"
	case 19001:
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "no bot has this hook id: check the webhook URL, and that the bot is still in its group"
	case 19021:
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "the signature was refused: check WithSecret, and that the clock is within an hour of Feishu's"
	case 19022:
		e.Kind = middleware.ErrUnauthorized
		e.Hint = "this IP is not on the bot's allowlist"
	case 19024:
		e.Kind = middleware.ErrInvalidItem
		e.Hint = "the message holds none of the bot's keywords (each part of a split text must hold one)"
	case 9499:
		e.Kind = middleware.ErrInvalidItem
		e.Hint = "Feishu could not read the body (its shape, or over 20 KB)"
	case 2200:
		// An internal error: whether the message was posted is not said.
		e.Kind = middleware.ErrMaybeDelivered
		e.Hint = "Feishu answered an internal error; whether the message was posted is not documented: check the group"
	}
	return e
}

// rateWindow is the one refusal worth a free retry: 11232 is answered
// before anything is posted and passes within a second.
func rateWindow(err error) (time.Duration, bool) {
	var api *middleware.APIError
	if errors.As(err, &api) && api.Code == 11232 {
		return api.RetryAfter, true
	}
	return 0, false
}
