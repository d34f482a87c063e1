package imtest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/imbridge/middleware/timchat"
)

var _ timchat.Uploader = (*MediaHost)(nil)

// MediaHost is a timchat.Uploader that keeps uploads in memory and serves
// them over loopback HTTP, so local media travel through the TIM emulator
// end to end.
type MediaHost struct {
	// URL is the server's base URL.
	URL string

	srv   *httptest.Server
	lis   net.Listener
	mu    sync.Mutex
	files map[string]hostedFile
	gets  int
}

type hostedFile struct {
	mime string
	data []byte
}

// MediaHostOption configures NewMediaHost.
type MediaHostOption func(*MediaHost)

// WithMediaHostListener serves the host on l instead of a random loopback
// port. Close closes l.
func WithMediaHostListener(l net.Listener) MediaHostOption { return func(h *MediaHost) { h.lis = l } }

// NewMediaHost starts a media host. Close it when done.
func NewMediaHost(opts ...MediaHostOption) *MediaHost {
	h := &MediaHost{files: map[string]hostedFile{}}
	for _, o := range opts {
		o(h)
	}
	h.srv = serve(http.HandlerFunc(h.serve), h.lis)
	h.URL = h.srv.URL
	return h
}

// Close stops the server.
func (h *MediaHost) Close() { h.srv.Close() }

// Upload stores r under its md5 and name, checks it against meta, and
// returns its URL.
func (h *MediaHost) Upload(ctx context.Context, r io.Reader, meta timchat.UploadMeta) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sum := md5.Sum(data)
	if int64(len(data)) != meta.Size || hex.EncodeToString(sum[:]) != meta.MD5 {
		return "", fmt.Errorf("imtest: upload of %s: got %d bytes md5 %x, meta says %d bytes md5 %s", meta.Name, len(data), sum, meta.Size, meta.MD5)
	}
	p := "/media/" + meta.MD5 + "/" + url.PathEscape(meta.Name)
	h.mu.Lock()
	h.files[p] = hostedFile{mime: meta.MIME, data: data}
	h.mu.Unlock()
	return h.URL + p, nil
}

// Files returns how many files are stored.
func (h *MediaHost) Files() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.files)
}

// Get returns the bytes stored at url, and whether there were any.
func (h *MediaHost) Get(u string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[strings.TrimPrefix(u, h.URL)]
	return f.data, ok
}

// maxPut bounds a PUT to the host: TIM's largest file is 100 MB.
const maxPut = 100 << 20

func (h *MediaHost) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		h.put(w, r)
		return
	}
	h.mu.Lock()
	f, ok := h.files[r.URL.EscapedPath()]
	h.gets++
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if f.mime != "" {
		w.Header().Set("Content-Type", f.mime)
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
	_, _ = w.Write(f.data)
}

// put stores a PUT body under its path, as a bucket that takes presigned
// or plain PUTs does (timchat.PresignedPutUploader, tim://...?upload=): a
// Content-Length is required, and the body must be that long.
func (h *MediaHost) put(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength < 0 || r.ContentLength > maxPut {
		http.Error(w, "a Content-Length of at most 100 MB is required", http.StatusLengthRequired)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxPut+1))
	if err != nil || int64(len(data)) != r.ContentLength {
		http.Error(w, "the body is not as long as its Content-Length", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.files[r.URL.EscapedPath()] = hostedFile{mime: r.Header.Get("Content-Type"), data: data}
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
