package wecom

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/imbridge/middleware"
)

// openedMedia is a media item with the way WeCom will carry it.
type openedMedia struct {
	*middleware.Media
	route string // "image", "voice" or "file"
}

var (
	magicPNG  = []byte("\x89PNG\r\n\x1a\n")
	magicJPEG = []byte("\xff\xd8\xff")
	magicAMR  = []byte("#!AMR\n")
)

// openMedia opens item i and picks its route: JPG/PNG up to 2 MB as an
// image message, AMR up to 2 MB as voice, everything else as a file.
func (c *Client) openMedia(ctx context.Context, msg *middleware.Message, i int) (*openedMedia, error) {
	md, err := msg.OpenMedia(ctx, i, FileLimit)
	if err != nil {
		return nil, err
	}
	om := &openedMedia{Media: md, route: "file"}
	head := md.Head()
	switch md.Type {
	case middleware.ImageItem:
		if (bytes.HasPrefix(head, magicPNG) || bytes.HasPrefix(head, magicJPEG)) && md.Size <= ImageLimit {
			om.route = "image"
		}
	case middleware.VoiceItem:
		if bytes.HasPrefix(head, magicAMR) && md.Size <= VoiceLimit {
			om.route = "voice"
		}
	}
	if om.route != "image" {
		if err := checkUploadSize(i, middleware.FileItem, md.Size); err != nil {
			md.Close()
			return nil, err
		}
	}
	return om, nil
}

// sendMedia sends one media item: inline for images, by media_id for the
// rest, uploading again once if WeCom forgot the id (40007).
func (c *Client) sendMedia(ctx context.Context, msg *middleware.Message, o *Options, t target, om *openedMedia) error {
	env := &envelope{ChatID: t.chatID, PostID: o.PostID, VisibleToUser: strings.Join(o.VisibleTo, "|")}
	if om.route == "image" {
		body, err := imageBody(ctx, env, msg.Fields, om.Media)
		if err != nil {
			return err
		}
		_, err = c.sendBody(ctx, env.ChatID, body)
		return err
	}
	for fresh := false; ; fresh = true {
		id, err := c.mediaID(ctx, om.Media, om.route, fresh)
		if err != nil {
			return err
		}
		env.MsgType = om.route
		env.File, env.Voice = nil, nil
		if om.route == "voice" {
			env.Voice = &mediaRef{MediaID: id}
		} else {
			env.File = &mediaRef{MediaID: id}
		}
		body, err := marshalBody(env, msg.Fields)
		if err != nil {
			return err
		}
		_, err = c.sendBody(ctx, env.ChatID, body)
		if err == nil || fresh || !isMediaExpired(err) {
			return err
		}
	}
}

// imageBody builds an image message in one pass over the image: md5 and
// base64 are computed from the same reads, straight into a body of the
// exact final size.
func imageBody(ctx context.Context, env *envelope, fields map[string]any, md *middleware.Media) ([]byte, error) {
	env.MsgType = "image"
	env.Image = &imageContent{Base64: "\x00", MD5: "\x00"}
	tmpl, err := marshalBody(env, fields)
	if err != nil {
		return nil, err
	}
	const b64Mark, md5Mark = `"base64":"\u0000"`, `"md5":"\u0000"`
	i, j := bytes.Index(tmpl, []byte(b64Mark)), bytes.Index(tmpl, []byte(md5Mark))
	if i < 0 || j < i {
		return nil, errors.New("wecom: internal: image body template")
	}
	pre := tmpl[:i+len(`"base64":"`)]
	mid := tmpl[i+len(b64Mark)-1 : j+len(`"md5":"`)]
	post := tmpl[j+len(md5Mark)-1:]

	out := make([]byte, 0, len(pre)+base64.StdEncoding.EncodedLen(int(md.Size))+len(mid)+md5.Size*2+len(post))
	out = append(out, pre...)
	r, err := md.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h := md5.New()
	buf := make([]byte, 3<<14) // a multiple of 3: chunks encode without padding
	for {
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		out = base64.StdEncoding.AppendEncode(out, buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	out = append(out, mid...)
	out = hex.AppendEncode(out, h.Sum(nil))
	return append(out, post...), nil
}

// mediaID returns a media_id for md: from the cache when the same content
// went up under the same name within the media's lifetime, else uploaded.
// fresh skips and replaces the cached id. Remote sources are not hashed
// first: that would download them twice.
func (c *Client) mediaID(ctx context.Context, md *middleware.Media, typ string, fresh bool) (string, error) {
	if c.cache == nil || md.Remote {
		return c.upload(ctx, md, typ)
	}
	sum, err := contentHash(ctx, md)
	if err != nil {
		return "", err
	}
	key := strings.Join([]string{c.scope, typ, md.Name, sum}, ":")
	if fresh {
		c.cache.Delete(ctx, key)
	} else if id, ok := c.cached(ctx, key); ok {
		if o := middleware.ObserverFrom(ctx); o != nil {
			o.Upload(ctx, middleware.UploadInfo{Backend: IM, Type: md.Type, Bytes: md.Size, CacheHit: true})
		}
		return id, nil
	}
	if l, ok := c.cache.(MediaLocker); ok && !fresh {
		return c.uploadOnce(ctx, l, key, md, typ)
	}
	return c.uploadAndCache(ctx, key, md, typ)
}

// cached returns key's media_id if it is young enough to send.
func (c *Client) cached(ctx context.Context, key string) (string, bool) {
	id, at, ok := c.cache.Get(ctx, key)
	return id, ok && c.now().Sub(at) < MediaTTL-CacheMargin
}

func (c *Client) uploadAndCache(ctx context.Context, key string, md *middleware.Media, typ string) (string, error) {
	id, err := c.upload(ctx, md, typ)
	if err != nil {
		return "", err
	}
	c.cache.Put(ctx, key, id, c.now())
	return id, nil
}

// uploadOnce uploads under the shared lock, or waits for the process that
// holds it to publish the media_id. A lock that cannot be taken or read
// never blocks the push: it uploads itself.
func (c *Client) uploadOnce(ctx context.Context, l MediaLocker, key string, md *middleware.Media, typ string) (string, error) {
	unlock, ok, err := l.Lock(ctx, key, uploadLockTTL)
	if err != nil || ok {
		if ok {
			defer unlock()
			if id, hit := c.cached(ctx, key); hit { // published while we took the lock
				return id, nil
			}
		}
		return c.uploadAndCache(ctx, key, md, typ)
	}
	wait := uploadMaxWait
	if dl, has := ctx.Deadline(); has {
		wait = min(wait, time.Until(dl)/2)
	}
	t := time.NewTicker(uploadPollWait)
	defer t.Stop()
	giveUp := time.After(wait)
	for {
		select {
		case <-t.C:
			if id, hit := c.cached(ctx, key); hit {
				return id, nil
			}
		case <-giveUp:
			return c.uploadAndCache(ctx, key, md, typ)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func contentHash(ctx context.Context, md *middleware.Media) (string, error) {
	r, err := md.Open(ctx)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upload streams md as multipart/form-data: the part header, the media and
// the trailer go out through an io.MultiReader with an exact
// Content-Length, so the file is never held in memory.
func (c *Client) upload(ctx context.Context, md *middleware.Media, typ string) (string, error) {
	if o := middleware.ObserverFrom(ctx); o != nil {
		start := time.Now()
		defer func() {
			o.Upload(ctx, middleware.UploadInfo{Backend: IM, Type: md.Type, Bytes: md.Size, Duration: time.Since(start)})
		}()
	}
	boundary := c.boundary()
	head, tail := multipartFrame(boundary, md.Name, md.MIME, md.Size)
	r, err := c.do(ctx, request{
		url:         c.uploadURL(typ),
		contentType: "multipart/form-data; boundary=" + boundary,
		length:      int64(len(head)) + md.Size + int64(len(tail)),
		upload:      true,
		open: func(ctx context.Context) (io.Reader, func(), error) {
			body, err := md.Open(ctx)
			if err != nil {
				return nil, nil, err
			}
			return io.MultiReader(strings.NewReader(head), md.Track(body), strings.NewReader(tail)), func() { body.Close() }, nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("wecom: upload of item %d (%s): %w", md.Index, md.Name, err)
	}
	if r.MediaID == "" {
		return "", &middleware.APIError{Backend: "wecom", Message: "upload answer has no media_id"}
	}
	return r.MediaID, nil
}

// multipartFrame returns what goes before and after the file in an upload
// body. The file name is raw UTF-8 (WeCom mangles RFC 2231 and URL
// encoding), with quotes and backslashes escaped and CR/LF removed.
func multipartFrame(boundary, name, mimeType string, size int64) (head, tail string) {
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	var b strings.Builder
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString(`Content-Disposition: form-data; name="media"; filename="`)
	b.WriteString(escapeFilename(name))
	b.WriteString(`"; filelength=` + strconv.FormatInt(size, 10) + "\r\n")
	b.WriteString("Content-Type: " + dropControls(mimeType) + "\r\n\r\n")
	return b.String(), "\r\n--" + boundary + "--\r\n"
}

var filenameEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// escapeFilename quotes s for filename="...". The Client refuses control
// characters in names it is given and drops them from names it finds;
// they are dropped here too, so that no NUL, CR or LF reaches a header
// whoever built the Message.
func escapeFilename(s string) string { return filenameEscaper.Replace(dropControls(s)) }

func dropControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func randomBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "imbridge" + hex.EncodeToString(b[:])
}
