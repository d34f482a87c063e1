package middleware

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ItemType is the kind of a message item.
type ItemType string

// The item types of PushMixed, as in autClaw's replyMixed.
const (
	TextItem     ItemType = "text"
	MarkdownItem ItemType = "markdown"
	ImageItem    ItemType = "image"
	VoiceItem    ItemType = "voice"
	VideoItem    ItemType = "video"
	FileItem     ItemType = "file"
)

// IsMedia reports whether t carries a source rather than text.
func (t ItemType) IsMedia() bool {
	switch t {
	case ImageItem, VoiceItem, VideoItem, FileItem:
		return true
	}
	return false
}

func (t ItemType) valid() bool {
	return t == TextItem || t == MarkdownItem || t.IsMedia()
}

// Item is one part of a message.
type Item struct {
	// Type is the kind of item.
	Type ItemType
	// Text is the content of a text or markdown item.
	Text string
	// Source locates a media item: an http(s) URL, a local path, a file://
	// URL, "base64://<data>", or "data:<mime>;base64,<data>".
	Source string
	// Data holds a media item in memory, instead of Source.
	Data []byte
	// Name is the display file name of a media item.
	Name string
	// MIME is the media type of a media item.
	MIME string
}

// sniffLen is how much of a source is read to guess its MIME type, as
// http.DetectContentType looks at no more.
const sniffLen = 512

type sourceKind int

const (
	srcMemory sourceKind = iota
	srcFile
	srcURL
)

// source is a media item checked without network I/O: paths are stat-ed,
// base64 is decoded, URLs are parsed.
type source struct {
	kind     sourceKind
	data     []byte // srcMemory
	path     string // srcFile
	url      string // srcURL
	size     int64  // srcFile
	baseName string // from the path or URL path
	declared string // MIME from a data URI
}

// describe names a source in errors without echoing inline payloads.
func describe(it Item) string {
	switch s := it.Source; {
	case s == "":
		return fmt.Sprintf("%d bytes of Data", len(it.Data))
	case strings.HasPrefix(s, "base64://"):
		return fmt.Sprintf("base64 source (%d chars)", len(s)-len("base64://"))
	case strings.HasPrefix(s, "data:"):
		head, _, _ := strings.Cut(s, ",")
		return fmt.Sprintf("%s,… (%d chars)", head, len(s))
	case strings.Contains(s, "://"):
		if u, err := url.Parse(s); err == nil {
			u.RawQuery, u.Fragment, u.User = "", "", nil
			return fmt.Sprintf("%q", u.String())
		}
		return "an unparsable URL"
	}
	return fmt.Sprintf("%q", it.Source)
}

// prepareSource checks it without network I/O.
func prepareSource(it Item) (*source, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidItem, describe(it), fmt.Sprintf(format, args...))
	}
	s := it.Source
	switch {
	case s == "" && it.Data == nil:
		return nil, fmt.Errorf("%w: %s item has neither Source nor Data", ErrInvalidItem, it.Type)
	case s == "":
		return &source{kind: srcMemory, data: it.Data}, nil
	case it.Data != nil:
		return nil, fmt.Errorf("%w: %s item has both Source and Data", ErrInvalidItem, it.Type)
	case strings.HasPrefix(s, "base64://"):
		b, err := decodeBase64(s[len("base64://"):])
		if err != nil {
			return nil, bad("invalid base64 at byte %d", badOffset(err))
		}
		return &source{kind: srcMemory, data: b}, nil
	case strings.HasPrefix(s, "data:"):
		meta, payload, ok := strings.Cut(s[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return nil, bad(`a data URI must read "data:<mime>;base64,<data>"`)
		}
		b, err := decodeBase64(payload)
		if err != nil {
			return nil, bad("invalid base64 at byte %d", badOffset(err))
		}
		return &source{kind: srcMemory, data: b, declared: strings.TrimSuffix(meta, ";base64")}, nil
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, bad("not a valid URL")
		}
		return &source{kind: srcURL, url: s, baseName: urlBase(u)}, nil
	case strings.HasPrefix(s, "file://"):
		u, err := url.Parse(s)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return nil, bad("a file URL must be file:///absolute/path")
		}
		return fileSource(it, u.Path)
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		return nil, fmt.Errorf("%w: source scheme %q is not supported (use http, https, file, base64 or data)", ErrInvalidItem, scheme)
	}
	return fileSource(it, s)
}

func fileSource(it Item, p string) (*source, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidItem, describe(it), unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidItem, describe(it))
	}
	return &source{kind: srcFile, path: p, size: fi.Size(), baseName: filepath.Base(p)}, nil
}

// unwrapPathError drops the path from an *os.PathError, which describe
// already printed.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func urlBase(u *url.URL) string {
	b := path.Base(u.Path)
	if b == "/" || b == "." || b == "" {
		return ""
	}
	return b
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	enc := base64.StdEncoding
	switch {
	case strings.ContainsAny(s, "-_"):
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

func badOffset(err error) int64 {
	if c, ok := err.(base64.CorruptInputError); ok {
		return int64(c)
	}
	return 0
}

// Media is a media item opened by a backend: its resolved name, MIME type
// and exact size, and a way to read it as often as a retry needs. A Media
// is used by one goroutine.
type Media struct {
	// Index is the item's position in Message.Items.
	Index int
	// Type is the item's type.
	Type ItemType
	// Name is the display file name (WithFilename > Item.Name > base name
	// of the path or URL > a name made from Type and MIME).
	Name string
	// MIME is the media type (WithMIME > Item.MIME > sniffed, with the
	// extension as tie-break).
	MIME string
	// Size is the exact length in bytes.
	Size int64
	// Remote is true for an http(s) source: reading it again fetches it
	// again.
	Remote bool

	head    []byte
	reopen  func(ctx context.Context) (io.ReadCloser, error)
	pending io.ReadCloser
}

// Head returns up to the first 512 bytes, for format checks.
func (m *Media) Head() []byte { return m.head }

// Open returns the whole content from its first byte. Each call starts
// over, so a retry can read the media again; close each reader.
func (m *Media) Open(ctx context.Context) (io.ReadCloser, error) {
	if p := m.pending; p != nil {
		m.pending = nil
		return p, nil
	}
	return m.reopen(ctx)
}

// Bytes reads the whole content into memory.
func (m *Media) Bytes(ctx context.Context) ([]byte, error) {
	r, err := m.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, 0, m.Size)
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Close releases a reader that Open never handed out.
func (m *Media) Close() error {
	if p := m.pending; p != nil {
		m.pending = nil
		return p.Close()
	}
	return nil
}

// MediaSize returns the size of media item i when it is known without
// network I/O (inline data, base64, local files), for limit checks before
// anything is sent. ok is false for URLs and for items that are not media
// or cannot be read.
func (m *Message) MediaSize(i int) (size int64, ok bool) {
	if i < 0 || i >= len(m.Items) || !m.Items[i].Type.IsMedia() {
		return 0, false
	}
	var src *source
	if i < len(m.sources) && m.sources[i] != nil {
		src = m.sources[i]
	} else if s, err := prepareSource(m.Items[i]); err == nil {
		src = s
	} else {
		return 0, false
	}
	switch src.kind {
	case srcMemory:
		return int64(len(src.data)), true
	case srcFile:
		return src.size, true
	}
	return 0, false
}

// OpenSource opens a media item that is not one of Items, such as a video
// thumbnail, the way OpenMedia does, with the message's HTTP client. Its
// Media.Index is -1.
func (m *Message) OpenSource(ctx context.Context, it Item, limit int64) (*Media, error) {
	tmp := &Message{Items: []Item{it}, httpClient: m.httpClient}
	md, err := tmp.OpenMedia(ctx, 0, limit)
	if md != nil {
		md.Index = -1
	}
	return md, err
}

// OpenMedia opens media item i for reading, with limit as the largest size
// the backend accepts: past it the error is ErrTooLarge, and the rest of the
// source is not read. A remote URL is fetched with ctx. limit <= 0 means no
// limit.
func (m *Message) OpenMedia(ctx context.Context, i int, limit int64) (*Media, error) {
	if i < 0 || i >= len(m.Items) {
		return nil, fmt.Errorf("%w: no item %d", ErrInvalidItem, i)
	}
	it := m.Items[i]
	if !it.Type.IsMedia() {
		return nil, fmt.Errorf("%w: item %d is %s, not media", ErrInvalidItem, i, it.Type)
	}
	var src *source
	if i < len(m.sources) && m.sources[i] != nil {
		src = m.sources[i]
	} else {
		var err error
		if src, err = prepareSource(it); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	md := &Media{Index: i, Type: it.Type}
	baseName, declared := src.baseName, src.declared
	tooLarge := func(size int64) error {
		return fmt.Errorf("%w: item %d (%s): %d bytes, the limit is %d", ErrTooLarge, i, it.Type, size, limit)
	}
	switch src.kind {
	case srcMemory:
		if limit > 0 && int64(len(src.data)) > limit {
			return nil, tooLarge(int64(len(src.data)))
		}
		data := src.data
		md.Size = int64(len(data))
		md.head = data[:min(len(data), sniffLen)]
		md.reopen = func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}
	case srcFile:
		if limit > 0 && src.size > limit {
			return nil, tooLarge(src.size)
		}
		md.Size = src.size
		p, size := src.path, src.size
		md.reopen = func(context.Context) (io.ReadCloser, error) {
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("%w: item %d: %w", ErrInvalidItem, i, err)
			}
			return &exactReader{r: io.LimitReader(f, size), c: f, left: size}, nil
		}
		r, err := md.reopen(ctx)
		if err != nil {
			return nil, err
		}
		md.head = make([]byte, min(size, sniffLen))
		_, err = io.ReadFull(r, md.head)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: reading %s: %w", ErrInvalidItem, i, describe(it), err)
		}
	case srcURL:
		md.Remote = true
		var err error
		if baseName, declared, err = m.openURL(ctx, md, src, it, limit); err != nil {
			return nil, err
		}
	}
	md.Name = firstNonEmpty(m.Filename, it.Name, baseName)
	md.MIME = firstNonEmpty(m.MIME, it.MIME, sniffMIME(md.head, md.Name, declared))
	if md.Name == "" {
		md.Name = string(it.Type) + extensionFor(md.MIME)
	}
	return md, nil
}

// openURL fetches src and fills md. It returns the file name and MIME type
// the server announced, if any.
func (m *Message) openURL(ctx context.Context, md *Media, src *source, it Item, limit int64) (name, declared string, err error) {
	i := md.Index
	get := func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.url, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: %s: %w", ErrInvalidItem, i, describe(it), err)
		}
		resp, err := m.HTTPClient().Do(req)
		if err != nil {
			// *url.Error prints the URL, which may carry a signed query.
			return nil, fmt.Errorf("item %d: fetching %s: %w", i, describe(it), unwrapURLError(err))
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: item %d: fetching %s: HTTP %d", ErrInvalidItem, i, describe(it), resp.StatusCode)
		}
		return resp, nil
	}
	resp, err := get(ctx)
	if err != nil {
		return "", "", err
	}
	name = src.baseName
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil && params["filename"] != "" {
			name = path.Base(params["filename"])
		}
	}
	declared = resp.Header.Get("Content-Type")
	if n := resp.ContentLength; n >= 0 {
		if limit > 0 && n > limit {
			resp.Body.Close()
			return "", "", fmt.Errorf("%w: item %d (%s): %d bytes, the limit is %d", ErrTooLarge, i, it.Type, n, limit)
		}
		md.Size = n
		md.head = make([]byte, min(n, sniffLen))
		if _, err := io.ReadFull(resp.Body, md.head); err != nil {
			resp.Body.Close()
			return "", "", fmt.Errorf("%w: item %d: reading %s: %w", ErrInvalidItem, i, describe(it), err)
		}
		head := md.head
		md.pending = &exactReader{r: io.MultiReader(bytes.NewReader(head), resp.Body), c: resp.Body, left: n}
		md.reopen = func(ctx context.Context) (io.ReadCloser, error) {
			resp, err := get(ctx)
			if err != nil {
				return nil, err
			}
			if resp.ContentLength != n {
				resp.Body.Close()
				return nil, fmt.Errorf("%w: item %d: %s changed size between reads", ErrInvalidItem, i, describe(it))
			}
			return &exactReader{r: resp.Body, c: resp.Body, left: n}, nil
		}
		return name, declared, nil
	}
	// Unknown length: read at most limit+1 bytes, so a huge answer stops
	// at the limit.
	defer resp.Body.Close()
	r := io.Reader(resp.Body)
	if limit > 0 {
		r = io.LimitReader(resp.Body, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", "", fmt.Errorf("item %d: reading %s: %w", i, describe(it), err)
	}
	if limit > 0 && int64(len(data)) > limit {
		return "", "", fmt.Errorf("%w: item %d (%s): more than %d bytes", ErrTooLarge, i, it.Type, limit)
	}
	md.Size = int64(len(data))
	md.head = data[:min(len(data), sniffLen)]
	md.reopen = func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	return name, declared, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// exactReader fails when the content ends before its announced size, so an
// upload with a Content-Length never sends a short body silently.
type exactReader struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: source ended %d bytes early", ErrInvalidItem, e.left)
	}
	return n, err
}

func (e *exactReader) Close() error { return e.c.Close() }

// sniffMIME guesses a type from the content, then the extension, then what
// the source declared.
func sniffMIME(head []byte, name, declared string) string {
	if bytes.HasPrefix(head, []byte("#!AMR\n")) {
		return "audio/amr"
	}
	sniffed := http.DetectContentType(head)
	generic := sniffed == "application/octet-stream" || strings.HasPrefix(sniffed, "text/plain")
	if !generic {
		return sniffed
	}
	if ext := path.Ext(name); ext != "" {
		if t := mimeByExt(ext); t != "" {
			return t
		}
	}
	if declared != "" {
		if t, _, err := mime.ParseMediaType(declared); err == nil && t != "application/octet-stream" {
			return t
		}
	}
	return sniffed
}

var extMIME = map[string]string{
	".amr": "audio/amr", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg",
	".opus": "audio/opus", ".mp4": "video/mp4", ".mov": "video/quicktime", ".csv": "text/csv",
	".txt": "text/plain", ".pdf": "application/pdf", ".zip": "application/zip",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".md": "text/markdown",
}

func mimeByExt(ext string) string {
	if t, ok := extMIME[strings.ToLower(ext)]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		mt, _, _ := mime.ParseMediaType(t)
		return mt
	}
	return ""
}

func extensionFor(mimeType string) string {
	mt, _, _ := mime.ParseMediaType(mimeType)
	for ext, t := range map[string]string{
		".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
		".amr": "audio/amr", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".ogg": "audio/ogg",
		".mp4": "video/mp4", ".mov": "video/quicktime", ".txt": "text/plain", ".csv": "text/csv",
		".pdf": "application/pdf", ".zip": "application/zip",
	} {
		if t == mt {
			return ext
		}
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
