package timchat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/go-querystring/query"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
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
	var stale string
	renewed := false
	var lastErr error
	maybe := false // some attempt may have reached the server
	for attempt := 1; ; attempt++ {
		sig, err := c.sig.get(stale)
		if err != nil {
			return nil, err
		}
		q, err := c.queryFor(sig)
		if err != nil {
			return nil, err
		}
		u := c.base + "/v4/" + api + "?" + q
		resp, err := httpx.Post(ctx, c.http, u, "application/json", bytes.NewReader(body), int64(len(body)))
		wait := time.Duration(0)
		if err != nil {
			// Retrying is safe even when the request may have arrived: the
			// server deduplicates. Only positive proof says it did not.
			var he *httpx.Error
			maybe = maybe || !errors.As(err, &he) || he.Written
			lastErr = fmt.Errorf("timchat: %s: %w", api, err)
			if ctx.Err() != nil {
				return nil, c.final(lastErr, maybe)
			}
		} else {
			r, err := decodeReply(resp)
			if err == nil {
				return r, nil
			}
			lastErr = err
			var apiErr *middleware.APIError
			errors.As(err, &apiErr)
			switch {
			case sigRefused(apiErr.Code) && !renewed && c.cfg.UserSig == "":
				stale, renewed = sig, true
				attempt--
				continue
			case errors.Is(err, middleware.ErrMaybeDelivered):
				maybe = true
			case apiErr.Code == 0 && errors.Is(err, middleware.ErrRateLimited):
				wait = apiErr.RetryAfter
			case !transient(apiErr.Code):
				return r, c.final(err, maybe)
			case apiErr.Code == 90024:
				wait = pushSpacing + 50*time.Millisecond
			}
		}
		if attempt >= c.retry.Attempts {
			return nil, c.final(lastErr, maybe)
		}
		if d := c.retry.Delay(attempt); d > wait {
			wait = d
		}
		if !retry.Fits(ctx, wait) {
			return nil, c.final(lastErr, maybe)
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, c.final(lastErr, maybe)
		}
	}
}

// final is the error of a call that gave up: when an attempt may have
// reached the server, it says so even if the last one did not.
func (c *Client) final(err error, maybe bool) error {
	if maybe && !errors.Is(err, middleware.ErrMaybeDelivered) {
		return fmt.Errorf("%w (an earlier attempt may have arrived): %w", middleware.ErrMaybeDelivered, err)
	}
	return err
}
