package timchat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
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
// once.
func (c *Client) call(ctx context.Context, api string, body []byte) (*reply, error) {
	var stale string
	renewed := false
	var lastErr error
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
			// server deduplicates. Only the last error says it may have.
			lastErr = fmt.Errorf("timchat: %s: %w", api, err)
			var he *httpx.Error
			if errors.As(err, &he) && he.Written {
				lastErr = fmt.Errorf("timchat: %s: %w: %w", api, middleware.ErrMaybeDelivered, err)
			}
			if ctx.Err() != nil {
				return nil, lastErr
			}
		} else {
			r, err := decodeReply(resp.Status, resp.Body)
			var apiErr *middleware.APIError
			if errors.As(err, &apiErr) {
				// The platform's own text may echo the request.
				for _, s := range []string{c.cfg.SecretKey, sig} {
					if s != "" {
						apiErr.Message = strings.ReplaceAll(apiErr.Message, s, "REDACTED")
					}
				}
			}
			if err == nil {
				return r, nil
			}
			if apiErr != nil {
				switch {
				case sigRefused(apiErr.Code) && !renewed && c.cfg.UserSig == "":
					stale, renewed = sig, true
					attempt--
					continue
				case !transient(apiErr.Code):
					return r, err
				case apiErr.Code == 90024:
					wait = pushSpacing + 50*time.Millisecond
				}
			}
			lastErr = err
		}
		if attempt >= c.retry.Attempts {
			return nil, lastErr
		}
		if d := c.retry.Delay(attempt); d > wait {
			wait = d
		}
		if !retry.Fits(ctx, wait) {
			return nil, lastErr
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return nil, lastErr
		}
	}
}
