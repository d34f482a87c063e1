package timchat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-querystring/query"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
	"github.com/imbridge/middleware/internal/retry"
)

// signedQuery is the query string of every REST call, less its random.
type signedQuery struct {
	SDKAppID    uint64 `url:"sdkappid"`
	Identifier  string `url:"identifier"`
	UserSig     string `url:"usersig"`
	ContentType string `url:"contenttype"`
}

// encodedQuery caches signedQuery, encoded, for the usersig it holds: it
// changes only when the signature does, and encoding it per request was a
// fifth of the client's CPU.
type encodedQuery struct {
	sig     string
	encoded string
}

// queryFor returns the query string for sig with a fresh random.
func (c *Client) queryFor(sig string) (string, error) {
	q := c.query.Load()
	if q == nil || q.sig != sig {
		v, err := query.Values(signedQuery{SDKAppID: c.cfg.SDKAppID, Identifier: c.cfg.Admin, UserSig: sig, ContentType: "json"})
		if err != nil {
			return "", err
		}
		q = &encodedQuery{sig: sig, encoded: v.Encode()}
		c.query.Store(q)
	}
	return q.encoded + "&random=" + strconv.FormatUint(uint64(rand.Uint32()), 10), nil
}

// call posts body to v4/api. Transient failures are retried with the same
// body, so its MsgRandom/MsgSeq/Random let the server drop duplicates; the
// query's random is fresh for each request. A refused signature is renewed
// once. A Retry-After (HTTP 429, 503) or TIM's own spacing is waited out
// when the deadline allows, and ends the call when it does not.
func (c *Client) call(ctx context.Context, api string, body []byte) (*reply, error) {
	var r *reply
	var stale string // a usersig the server refused
	renewed := false
	maybe := false // some attempt may have reached the server
	err := c.retry.Run(ctx, func(n int) retry.Outcome {
		sig, err := c.sig.get(stale)
		if err != nil {
			return retry.Outcome{Err: err}
		}
		q, err := c.queryFor(sig)
		if err != nil {
			return retry.Outcome{Err: err}
		}
		start := time.Now()
		resp, err := httpx.Post(ctx, c.http, c.base+"/v4/"+api+"?"+q, "application/json", bytes.NewReader(body), int64(len(body)))
		if err == nil {
			r, err = decodeReply(resp)
		}
		outcome.Report(ctx, middleware.AttemptInfo{Backend: IM, API: api, Method: http.MethodPost, Host: c.apiHost, Retry: n - 1, Start: start}, resp, err)
		if resp == nil {
			// Retrying is safe even when the request may have arrived: the
			// server deduplicates. Only positive proof says it did not.
			var he *httpx.Error
			maybe = maybe || !errors.As(err, &he) || he.Written
			return retry.Outcome{Err: fmt.Errorf("timchat: %s: %w", api, err), Retry: ctx.Err() == nil}
		}
		if err == nil {
			return retry.Outcome{}
		}
		var apiErr *middleware.APIError
		errors.As(err, &apiErr)
		if sigRefused(apiErr.Code) && !renewed && c.cfg.UserSig == "" {
			stale, renewed = sig, true
			return retry.Outcome{Err: err, Retry: true, Free: true}
		}
		maybe = maybe || errors.Is(err, middleware.ErrMaybeDelivered)
		return judge(err, apiErr)
	})
	if err != nil {
		return r, c.final(err, maybe)
	}
	return r, nil
}

// judge decides whether a refusal is worth another try with the same dedup
// keys, and how long to wait first.
func judge(err error, api *middleware.APIError) retry.Outcome {
	switch {
	case errors.Is(err, middleware.ErrMaybeDelivered):
		return retry.Outcome{Err: err, Retry: true}
	case api.Code == 0 && errors.Is(err, middleware.ErrRateLimited):
		return retry.Outcome{Err: err, Retry: true, Wait: api.RetryAfter}
	case api.Code == 90024:
		return retry.Outcome{Err: err, Retry: true, Wait: pushGap}
	case transient(api.Code):
		return retry.Outcome{Err: err, Retry: true}
	}
	return retry.Outcome{Err: err}
}

// final is the error of a call that gave up: when an attempt may have
// reached the server, it says so even if the last one did not.
func (c *Client) final(err error, maybe bool) error {
	if maybe && !errors.Is(err, middleware.ErrMaybeDelivered) {
		return fmt.Errorf("%w (an earlier attempt may have arrived): %w", middleware.ErrMaybeDelivered, err)
	}
	var he *httpx.Error
	if !maybe && errors.As(err, &he) && !he.Written {
		return fmt.Errorf("%w: %w", middleware.ErrUnsent, err)
	}
	return err
}
