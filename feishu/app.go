package feishu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/outcome"
	"github.com/imbridge/middleware/internal/retry"
)

// ImageLimit is the largest image the upload API takes, in bytes.
const ImageLimit = 10 << 20

// API paths of the app that uploads images.
const (
	tokenPath  = "/open-apis/auth/v3/tenant_access_token/internal"
	uploadPath = "/open-apis/im/v1/images"
)

// renewAhead is how long before its expiry a tenant token is replaced:
// near its end Feishu hands out a new one while the old stays valid.
const renewAhead = 10 * time.Minute

// maxKeys bounds the image_keys kept in memory.
const maxKeys = 1024

// app is the Feishu app that uploads images for the bot: its tenant token,
// renewed ahead of expiry, and the image_keys of the bytes it uploaded.
type app struct {
	base, id, secret string
	http             *http.Client
	retry            retry.Policy
	now              func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	keys    map[[32]byte]string
}

func newApp(base, id, secret string, hc *http.Client, p retry.Policy, now func() time.Time) *app {
	return &app{base: base, id: id, secret: secret, http: hc, retry: p, now: now, keys: map[[32]byte]string{}}
}

// checkImageSize applies the upload's limits: not empty, at most 10 MB.
func checkImageSize(i int, size int64) error {
	switch {
	case size == 0:
		return fmt.Errorf("%w: feishu: item %d is an empty image", middleware.ErrInvalidItem, i)
	case size > ImageLimit:
		return fmt.Errorf("%w: feishu: item %d is %d bytes; Feishu takes images of at most %d", middleware.ErrTooLarge, i, size, ImageLimit)
	}
	return nil
}

// image returns the image_key of item i: the one of an earlier upload of
// the same bytes, or a new upload's.
func (a *app) image(ctx context.Context, msg *middleware.Message, i int) (string, error) {
	md, err := msg.OpenMedia(ctx, i, ImageLimit)
	if err != nil {
		return "", err
	}
	defer md.Close()
	if err := checkImageSize(i, md.Size); err != nil {
		return "", err
	}
	if !isImage(md.Head()) {
		return "", fmt.Errorf("%w: feishu: item %d is not a JPEG, PNG, WEBP, GIF, TIFF, BMP or ICO image", middleware.ErrInvalidItem, i)
	}
	data, err := md.Bytes(ctx)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	a.mu.Lock()
	key, ok := a.keys[sum]
	a.mu.Unlock()
	if ok {
		return key, nil
	}
	key, err = a.upload(ctx, md.Name, data)
	if err != nil {
		return "", fmt.Errorf("item %d: %w", i, err)
	}
	a.mu.Lock()
	if len(a.keys) >= maxKeys {
		clear(a.keys)
	}
	a.keys[sum] = key
	a.mu.Unlock()
	return key, nil
}

// isImage checks the formats the upload takes by their first bytes.
func isImage(head []byte) bool {
	switch ct := http.DetectContentType(head); {
	case ct == "image/jpeg", ct == "image/png", ct == "image/gif", ct == "image/webp", ct == "image/bmp", ct == "image/x-icon":
		return true
	}
	return bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*"))
}

// upload posts data as a message image. An upload creates no message, so
// any failure that passes may be retried; a refused token is renewed once.
func (a *app) upload(ctx context.Context, name string, data []byte) (string, error) {
	var key string
	renewed := false
	err := a.retry.Run(ctx, func(int) retry.Outcome {
		token, err := a.tenantToken(ctx)
		if err != nil {
			return retry.Outcome{Err: err, Retry: retryableApp(err)}
		}
		body, ctype := multipartImage(name, data)
		resp, err := httpx.Do(ctx, a.http, httpx.Request{Method: http.MethodPost, URL: a.base + uploadPath, ContentType: ctype,
			Body: bytes.NewReader(body), Length: int64(len(body)), Header: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			return retry.Outcome{Err: fmt.Errorf("feishu: image upload: %w", err), Retry: ctx.Err() == nil}
		}
		var r struct {
			Data struct {
				ImageKey string `json:"image_key"`
			} `json:"data"`
		}
		if err := decodeApp(resp, &r); err != nil {
			var api *middleware.APIError
			if errors.As(err, &api) && (api.Code == 234002 || api.Code == 99991663 || api.HTTPStatus == 401) && !renewed {
				renewed = true
				a.forgetToken(token)
				return retry.Outcome{Err: err, Retry: true, Free: true}
			}
			return retry.Outcome{Err: fmt.Errorf("feishu: image upload: %w", err), Retry: retryableApp(err)}
		}
		if r.Data.ImageKey == "" {
			return retry.Outcome{Err: fmt.Errorf("feishu: image upload: %w", outcome.NotPlatform(IM, resp))}
		}
		key = r.Data.ImageKey
		return retry.Outcome{}
	})
	return key, err
}

// multipartImage is the upload's form: image_type=message and the image.
func multipartImage(name string, data []byte) ([]byte, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("image_type", "message")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="image"; filename="`+strings.NewReplacer(`"`, "", "\\", "").Replace(name)+`"`)
	h.Set("Content-Type", "application/octet-stream")
	part, _ := w.CreatePart(h)
	_, _ = part.Write(data)
	_ = w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

// tenantToken returns a token valid for a while yet, fetching a new one
// when the cached one is near its end.
func (a *app) tenantToken(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.now().Before(a.expires.Add(-renewAhead)) {
		return a.token, nil
	}
	body, _ := json.Marshal(map[string]string{"app_id": a.id, "app_secret": a.secret})
	resp, err := httpx.Post(ctx, a.http, a.base+tokenPath, "application/json; charset=utf-8", bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return "", fmt.Errorf("feishu: app token: %w", err)
	}
	var r struct {
		Token  string `json:"tenant_access_token"`
		Expire int64  `json:"expire"`
	}
	if err := decodeApp(resp, &r); err != nil {
		return "", fmt.Errorf("feishu: app token: %w", err)
	}
	if r.Token == "" || r.Expire <= 0 {
		return "", fmt.Errorf("feishu: app token: %w", outcome.NotPlatform(IM, resp))
	}
	a.token, a.expires = r.Token, a.now().Add(time.Duration(r.Expire)*time.Second)
	return a.token, nil
}

// forgetToken drops a token the API refused, unless another call has
// replaced it already.
func (a *app) forgetToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// decodeApp reads an answer of the app API: code 0 and the payload into
// out; its errors come with an HTTP 4xx and a code.
func decodeApp(resp *httpx.Response, out any) error {
	var r reply
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.Code == nil {
		return outcome.NotPlatform(IM, resp)
	}
	if *r.Code != 0 {
		e := &middleware.APIError{Backend: IM, Code: *r.Code, Message: r.Msg, HTTPStatus: resp.Status}
		switch *r.Code {
		case 234006:
			e.Kind = middleware.ErrTooLarge
		case 234001, 234010:
			e.Kind = middleware.ErrInvalidItem
		case 234002, 234007:
			e.Kind = middleware.ErrUnauthorized
			e.Hint = "the app cannot upload: check WithApp, its bot capability and the im:resource permission"
		}
		return e
	}
	if resp.Status < 200 || resp.Status > 299 {
		return outcome.NotPlatform(IM, resp)
	}
	return json.Unmarshal(resp.Body, out)
}

// retryableApp: what passes with time (the network before an answer, a
// 5xx, a rate limit); an app request creates no message, so no answer
// makes a retry unsafe.
func retryableApp(err error) bool {
	var api *middleware.APIError
	if errors.As(err, &api) {
		return api.HTTPStatus >= 500 || api.Kind == middleware.ErrRateLimited
	}
	var he *httpx.Error
	return errors.As(err, &he)
}
