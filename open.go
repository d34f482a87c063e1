package middleware

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"

	"github.com/imbridge/middleware/internal/httpx"
)

// sniffLen is how much of a source is read to guess its MIME type, as
// http.DetectContentType looks at no more.
const sniffLen = 512

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

	head     []byte
	reopen   func(ctx context.Context) (io.ReadCloser, error)
	pending  io.ReadCloser
	progress func(done, total int64)
}

// Track wraps r, a reader of this media, so that the call's WithProgress
// callback sees the bytes as they are read; it is r when there is none.
// Backends track what they upload.
func (m *Media) Track(r io.Reader) io.Reader {
	if m.progress == nil {
		return r
	}
	return &tracked{r: r, total: m.Size, f: m.progress}
}

type tracked struct {
	r     io.Reader
	done  int64
	total int64
	f     func(done, total int64)
}

func (t *tracked) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.done += int64(n)
		t.f(t.done, t.total)
	}
	return n, err
}

// Head returns up to the first 512 bytes, for format checks.
func (m *Media) Head() []byte { return m.head }

// Open returns the whole content from its first byte. Each call starts
// over, so a retry can read the media again; close each reader. A reader
// fails, rather than end quietly, when the source turns out shorter or
// longer than Size.
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
	buf := bytes.NewBuffer(make([]byte, 0, m.Size))
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

// source returns item i's parsed source: the one the Client prepared, or,
// for a Message built by hand, one parsed now.
func (m *Message) source(i int) (*source, error) {
	if i < len(m.sources) && m.sources[i] != nil {
		return m.sources[i], nil
	}
	return prepareSource(m.Items[i], m.sourcePolicy())
}

// MediaSize returns the size of media item i when it is known without
// network I/O (inline data, base64, local files), for limit checks before
// anything is sent. ok is false for URLs and for items that are not media
// or cannot be read.
func (m *Message) MediaSize(i int) (size int64, ok bool) {
	if i < 0 || i >= len(m.Items) || !m.Items[i].Type.IsMedia() {
		return 0, false
	}
	src, err := m.source(i)
	if err != nil {
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

// CheckSource checks a media item that is not one of Items, such as a
// video thumbnail, as the Client checks Items: well formed, and allowed by
// the call's SourcePolicy. It does no network I/O.
func (m *Message) CheckSource(it Item) error {
	_, err := m.extraSource(it)
	return err
}

// extraSource parses an item outside Items under the call's policy.
func (m *Message) extraSource(it Item) (*source, error) {
	if err := checkName("Name", it.Name); err != nil {
		return nil, err
	}
	if err := checkMIME("MIME", it.MIME); err != nil {
		return nil, err
	}
	return prepareSource(it, m.sourcePolicy())
}

// OpenSource opens a media item that is not one of Items, such as a video
// thumbnail, the way OpenMedia does, under the call's SourcePolicy and
// with its HTTP client. Its Media.Index is -1.
func (m *Message) OpenSource(ctx context.Context, it Item, limit int64) (*Media, error) {
	src, err := m.extraSource(it)
	if err != nil {
		return nil, err
	}
	tmp := &Message{Items: []Item{it}, fetch: m.fetch, policy: m.policy, sources: []*source{src}, progress: m.progress}
	md, err := tmp.OpenMedia(ctx, 0, limit)
	if md != nil {
		md.Index = -1
	}
	return md, err
}

// OpenMedia opens media item i for reading, with limit as the largest size
// the backend accepts: past it the error is ErrTooLarge, and the rest of the
// source is not read. A remote URL is fetched with ctx, under the call's
// SourcePolicy. limit <= 0 means no limit.
func (m *Message) OpenMedia(ctx context.Context, i int, limit int64) (*Media, error) {
	if i < 0 || i >= len(m.Items) {
		return nil, fmt.Errorf("%w: no item %d", ErrInvalidItem, i)
	}
	it := m.Items[i]
	if !it.Type.IsMedia() {
		return nil, fmt.Errorf("%w: item %d is %s, not media", ErrInvalidItem, i, it.Type)
	}
	src, err := m.source(i)
	if err != nil {
		return nil, fmt.Errorf("item %d: %w", i, err)
	}
	md := &Media{Index: i, Type: it.Type, progress: m.progress}
	tooLarge := func(size int64) error {
		return fmt.Errorf("%w: item %d (%s): %d bytes, the limit is %d", ErrTooLarge, i, it.Type, size, limit)
	}
	baseName, declared := src.baseName, src.declared
	switch src.kind {
	case srcMemory:
		if limit > 0 && int64(len(src.data)) > limit {
			return nil, tooLarge(int64(len(src.data)))
		}
		openMemory(md, src.data)
	case srcFile:
		if limit > 0 && src.size > limit {
			return nil, tooLarge(src.size)
		}
		if err := openLocal(ctx, md, src, it); err != nil {
			return nil, err
		}
	case srcURL:
		md.Remote = true
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

// openMemory serves bytes that are already in memory.
func openMemory(md *Media, data []byte) {
	md.Size = int64(len(data))
	md.head = data[:min(len(data), sniffLen)]
	md.reopen = func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
}

// openLocal serves a local file, opened again for each read. An open never
// blocks (a FIFO swapped in after the check is refused at once), and a file
// that changed size since it was checked fails its read.
func openLocal(ctx context.Context, md *Media, src *source, it Item) error {
	i := md.Index
	p, size := src.path, src.size
	md.Size = size
	md.reopen = func(ctx context.Context) (io.ReadCloser, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := openRegular(p)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: %s: %w", ErrInvalidItem, i, describe(it), unwrapPathError(err))
		}
		return &exactReader{r: f, c: f, left: size}, nil
	}
	r, err := md.reopen(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	md.head = make([]byte, min(size, sniffLen))
	if _, err := io.ReadFull(r, md.head); err != nil {
		return fmt.Errorf("%w: item %d: reading %s: %w", ErrInvalidItem, i, describe(it), err)
	}
	return nil
}

// openURL fetches src and fills md. It returns the file name and MIME type
// the server announced, if any. Nothing but the first 512 bytes is held in
// memory: a body of unknown length is counted as it streams past (and
// refused as soon as it passes limit), then fetched again when read.
func (m *Message) openURL(ctx context.Context, md *Media, src *source, it Item, limit int64) (name, declared string, err error) {
	get := m.getter(src, it, md.Index)
	resp, err := get(ctx)
	if err != nil {
		return "", "", err
	}
	name = src.baseName
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil && params["filename"] != "" {
			name = cleanName(path.Base(params["filename"]))
		}
	}
	declared = resp.Header.Get("Content-Type")
	n, err := readHead(resp, md, it, limit)
	if err != nil {
		return "", "", err
	}
	md.Size = n
	md.reopen = func(ctx context.Context) (io.ReadCloser, error) {
		resp, err := get(ctx)
		if err != nil {
			return nil, err
		}
		if resp.ContentLength >= 0 && resp.ContentLength != n {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: item %d: %s changed size between reads", ErrInvalidItem, md.Index, describe(it))
		}
		return &exactReader{r: resp.Body, c: resp.Body, left: n}, nil
	}
	return name, declared, nil
}

// getter returns the GET of a URL source under the call's SourcePolicy;
// a non-2xx answer is an error with its status, and no error holds the
// URL's query.
func (m *Message) getter(src *source, it Item, i int) func(context.Context) (*http.Response, error) {
	hc := m.HTTPClient()
	return func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.url.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: %s: %w", ErrInvalidItem, i, describe(it), httpx.StripURL(err))
		}
		resp, err := hc.Do(req)
		if err != nil {
			// *url.Error prints the URL, which may carry a signed query.
			return nil, fmt.Errorf("item %d: fetching %s: %w", i, describe(it), httpx.StripURL(err))
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: item %d: fetching %s: HTTP %d", ErrInvalidItem, i, describe(it), resp.StatusCode)
		}
		return resp, nil
	}
}

// readHead reads the first 512 bytes of resp into md and returns the
// size. With a Content-Length, the rest stays pending for the first Open;
// without one, the rest is counted, keeping none of it, up to limit.
func readHead(resp *http.Response, md *Media, it Item, limit int64) (int64, error) {
	i, n := md.Index, resp.ContentLength
	if limit > 0 && n > limit {
		resp.Body.Close()
		return 0, fmt.Errorf("%w: item %d (%s): %d bytes, the limit is %d", ErrTooLarge, i, it.Type, n, limit)
	}
	head := make([]byte, sniffLen)
	if n >= 0 {
		head = head[:min(n, sniffLen)]
	}
	got, err := io.ReadFull(resp.Body, head)
	if err != nil && !(n < 0 && (err == io.EOF || err == io.ErrUnexpectedEOF)) {
		resp.Body.Close()
		return 0, fmt.Errorf("%w: item %d: reading %s: %w", ErrInvalidItem, i, describe(it), err)
	}
	md.head = head[:got]
	if n >= 0 {
		md.pending = &exactReader{r: io.MultiReader(bytes.NewReader(md.head), resp.Body), c: resp.Body, left: n}
		return n, nil
	}
	defer resp.Body.Close()
	r := io.Reader(resp.Body)
	if limit > 0 {
		r = io.LimitReader(resp.Body, limit+1-int64(got))
	}
	if md.progress != nil { // counting a long download: show it
		r = &tracked{r: r, done: int64(got), total: -1, f: md.progress}
	}
	rest, err := io.Copy(io.Discard, r)
	if err != nil {
		return 0, fmt.Errorf("item %d: reading %s: %w", i, describe(it), err)
	}
	if n = int64(got) + rest; limit > 0 && n > limit {
		return 0, fmt.Errorf("%w: item %d (%s): more than %d bytes", ErrTooLarge, i, it.Type, limit)
	}
	return n, nil
}

// exactReader yields exactly left bytes, and fails when the content ends
// before them or goes on past them: an upload with a Content-Length never
// sends a short or cut body silently.
type exactReader struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		// Read one byte more to tell the end from a longer source.
		var one [1]byte
		n, err := e.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: the source is longer than it was", ErrInvalidItem)
		}
		if err == nil {
			return 0, nil
		}
		return 0, err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: source ended %d bytes early", ErrInvalidItem, e.left)
	}
	if err == io.EOF {
		err = nil // the next Read tells the end from a longer source
	}
	return n, err
}

func (e *exactReader) Close() error { return e.c.Close() }

// openRegular opens path for reading and refuses, before a byte is read,
// anything that is not a regular file (a FIFO, a device, a directory).
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
