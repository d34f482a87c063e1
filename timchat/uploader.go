package timchat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
	"github.com/imbridge/middleware/internal/redact"
)

// UploadMeta describes media to host.
type UploadMeta struct {
	// Name is the display file name.
	Name string
	// MIME is the media type.
	MIME string
	// Size is the exact length in bytes.
	Size int64
	// MD5 is the hex MD5 of the content; it is also the element's UUID.
	MD5 string
	// Kind is the item type: image, voice, video or file.
	Kind middleware.ItemType
}

// Uploader hosts media where TIM clients can download it, and returns the
// URL. The URL must outlive message roaming (7 days or more). Upload reads
// r to its end; it must be safe for concurrent use.
type Uploader interface {
	Upload(ctx context.Context, r io.Reader, meta UploadMeta) (url string, err error)
}

// PresignedPutUploader uploads with an HTTP PUT to a URL that the caller's
// Presign function signs (S3, Tencent COS and MinIO presigned URLs all
// work), and returns the matching GET URL. It needs no cloud SDK.
type PresignedPutUploader struct {
	// Presign returns where to PUT the object and the URL clients will
	// GET it from. Derive the object key from meta.MD5 to store each
	// content once.
	Presign func(ctx context.Context, meta UploadMeta) (putURL, getURL string, err error)
	// Header is added to every PUT (for example x-cos-acl: public-read).
	Header http.Header

	http *http.Client
}

// NewPresignedPutUploader returns an uploader that PUTs through hc (nil:
// http.DefaultTransport).
func NewPresignedPutUploader(presign func(ctx context.Context, meta UploadMeta) (putURL, getURL string, err error), hc *http.Client) *PresignedPutUploader {
	return &PresignedPutUploader{Presign: presign, http: httpx.Client(hc)}
}

// Upload streams r to the presigned URL with an exact Content-Length.
// Errors never contain the presigned URL: its query is a credential.
func (u *PresignedPutUploader) Upload(ctx context.Context, r io.Reader, meta UploadMeta) (string, error) {
	if u.Presign == nil {
		return "", errors.New("timchat: PresignedPutUploader has no Presign function")
	}
	putURL, getURL, err := u.Presign(ctx, meta)
	if err != nil {
		return "", fmt.Errorf("timchat: presign: %w", err)
	}
	ct := meta.MIME
	if ct == "" {
		ct = "application/octet-stream"
	}
	hc := u.http
	if hc == nil { // a struct literal: http.DefaultTransport
		hc = httpx.Client(nil)
	}
	resp, err := httpx.Do(ctx, hc, httpx.Request{Method: http.MethodPut, URL: putURL, ContentType: ct, Body: r, Length: meta.Size, Header: u.Header})
	if err != nil {
		// The presigned query is a credential: mask it wherever a
		// transport's text may have put it.
		var query string
		if pu, perr := url.Parse(putURL); perr == nil {
			query = pu.RawQuery
		}
		return "", redact.New(query).Error(fmt.Errorf("timchat: upload of %s: %w", meta.Name, err))
	}
	if resp.Status < 200 || resp.Status > 299 {
		return "", fmt.Errorf("timchat: upload of %s: HTTP %d", meta.Name, resp.Status)
	}
	return getURL, nil
}
