package middleware

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pngBytes is the 8-byte PNG signature plus enough to look like one.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)

func openOne(t *testing.T, it Item, limit int64, opts ...func(*Message)) (*Media, error) {
	t.Helper()
	m := &Message{Items: []Item{it}}
	for _, o := range opts {
		o(m)
	}
	return m.OpenMedia(context.Background(), 0, limit)
}

func TestMediaSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	png := filepath.Join(dir, "chart.png")
	require.NoError(t, os.WriteFile(png, pngBytes, 0o600))
	csv := filepath.Join(dir, "daily.csv")
	require.NoError(t, os.WriteFile(csv, []byte("a,b\n1,2\n"), 0o600))
	amr := filepath.Join(dir, "v")
	require.NoError(t, os.WriteFile(amr, []byte("#!AMR\nxxxxxxxx"), 0o600))
	b64 := base64.StdEncoding.EncodeToString(pngBytes)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/img/a.png":
			_, _ = w.Write(pngBytes)
		case "/dl":
			w.Header().Set("Content-Disposition", `attachment; filename="report.pdf"`)
			_, _ = w.Write([]byte("%PDF-1.4 hello"))
		}
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		item     Item
		msg      func(*Message)
		wantName string
		wantMIME string
		wantData []byte
	}{
		{name: "local path", item: Item{Type: ImageItem, Source: png}, wantName: "chart.png", wantMIME: "image/png", wantData: pngBytes},
		{name: "file URL", item: Item{Type: FileItem, Source: "file://" + csv}, wantName: "daily.csv", wantMIME: "text/csv", wantData: []byte("a,b\n1,2\n")},
		{name: "base64", item: Item{Type: ImageItem, Source: "base64://" + b64}, wantName: "image.png", wantMIME: "image/png", wantData: pngBytes},
		{name: "base64 unpadded url alphabet", item: Item{Type: FileItem, Source: "base64://" + base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff, 1})}, wantName: "file.bin", wantMIME: "application/octet-stream", wantData: []byte{0xfb, 0xff, 1}},
		{name: "data URI", item: Item{Type: FileItem, Source: "data:text/csv;base64," + base64.StdEncoding.EncodeToString([]byte("x,y"))}, wantName: "file.csv", wantMIME: "text/csv", wantData: []byte("x,y")},
		{name: "Data", item: Item{Type: VoiceItem, Data: []byte("#!AMR\n1234")}, wantName: "voice.amr", wantMIME: "audio/amr", wantData: []byte("#!AMR\n1234")},
		{name: "amr sniffed without extension", item: Item{Type: VoiceItem, Source: amr}, wantName: "v", wantMIME: "audio/amr"},
		{name: "URL", item: Item{Type: ImageItem, Source: srv.URL + "/img/a.png?sig=zzz"}, wantName: "a.png", wantMIME: "image/png", wantData: pngBytes},
		{name: "URL content-disposition name", item: Item{Type: FileItem, Source: srv.URL + "/dl"}, wantName: "report.pdf", wantMIME: "application/pdf"},
		{name: "Item.Name and MIME beat sniffing", item: Item{Type: ImageItem, Source: png, Name: "x.bin", MIME: "image/x-test"}, wantName: "x.bin", wantMIME: "image/x-test"},
		{name: "WithFilename and WithMIME beat Item", item: Item{Type: ImageItem, Source: png, Name: "x.bin", MIME: "image/x-test"},
			msg: func(m *Message) { m.Filename, m.MIME = "final.png", "image/final" }, wantName: "final.png", wantMIME: "image/final"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*Message)
			if tt.msg != nil {
				opts = append(opts, tt.msg)
			}
			md, err := openOne(t, tt.item, 1<<20, opts...)
			require.NoError(t, err)
			assert.Equal(t, tt.wantName, md.Name)
			assert.Equal(t, tt.wantMIME, md.MIME)
			if tt.wantData != nil {
				assert.Equal(t, int64(len(tt.wantData)), md.Size)
				for range 2 { // a retry reads it again
					got, err := md.Bytes(context.Background())
					require.NoError(t, err)
					assert.Equal(t, tt.wantData, got)
				}
			}
		})
	}
}

func TestMediaErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	require.NoError(t, os.WriteFile(big, make([]byte, 1000), 0o600))

	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/huge-unknown-length":
			// Chunked, so the client cannot know the size up front.
			fl := w.(http.Flusher)
			chunk := make([]byte, 1024)
			for range 1024 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				served.Add(int64(len(chunk)))
				fl.Flush()
			}
		case "/huge-known-length":
			w.Header().Set("Content-Length", "10000000")
			_, _ = w.Write(make([]byte, 10))
		}
	}))
	t.Cleanup(srv.Close)
	secret := "c2VjcmV0LXBheWxvYWQtZG8tbm90LWVjaG8="

	tests := []struct {
		name    string
		item    Item
		limit   int64
		wantErr error
		notIn   string
	}{
		{name: "missing file", item: Item{Type: FileItem, Source: filepath.Join(dir, "nope.csv")}, wantErr: ErrInvalidItem},
		{name: "directory", item: Item{Type: FileItem, Source: dir}, wantErr: ErrInvalidItem},
		{name: "bad base64", item: Item{Type: ImageItem, Source: "base64://" + secret + "!!"}, wantErr: ErrInvalidItem, notIn: secret},
		{name: "bad data URI", item: Item{Type: ImageItem, Source: "data:image/png," + secret}, wantErr: ErrInvalidItem, notIn: secret},
		{name: "unsupported scheme", item: Item{Type: FileItem, Source: "ftp://host/x"}, wantErr: ErrInvalidItem},
		{name: "both source and data", item: Item{Type: FileItem, Source: "x", Data: []byte("y")}, wantErr: ErrInvalidItem},
		{name: "nothing", item: Item{Type: FileItem}, wantErr: ErrInvalidItem},
		{name: "file over limit", item: Item{Type: FileItem, Source: big}, limit: 999, wantErr: ErrTooLarge},
		{name: "data over limit", item: Item{Type: FileItem, Data: make([]byte, 10)}, limit: 9, wantErr: ErrTooLarge},
		{name: "URL 404", item: Item{Type: FileItem, Source: srv.URL + "/missing?token=hush"}, wantErr: ErrInvalidItem, notIn: "hush"},
		{name: "URL known length over limit", item: Item{Type: FileItem, Source: srv.URL + "/huge-known-length"}, limit: 1000, wantErr: ErrTooLarge},
		{name: "URL unknown length over limit", item: Item{Type: FileItem, Source: srv.URL + "/huge-unknown-length"}, limit: 4096, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limit := tt.limit
			if limit == 0 {
				limit = 1 << 20
			}
			_, err := openOne(t, tt.item, limit)
			require.ErrorIs(t, err, tt.wantErr)
			if tt.notIn != "" {
				assert.NotContains(t, err.Error(), tt.notIn)
			}
		})
	}
	// The over-limit stream was abandoned well before its 1 MiB end.
	assert.Less(t, served.Load(), int64(512<<10))
}

func TestMediaStreamsURLOnce(t *testing.T) {
	t.Parallel()
	var gets atomic.Int32
	body := strings.Repeat("0123456789", 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	md, err := openOne(t, Item{Type: FileItem, Source: srv.URL + "/f.txt"}, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, int64(len(body)), md.Size)
	got, err := md.Bytes(context.Background())
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	assert.Equal(t, int32(1), gets.Load(), "the first read reuses the probing request")
	got, err = md.Bytes(context.Background())
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	assert.Equal(t, int32(2), gets.Load(), "a retry fetches again")
}

func TestPushMixedValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		items []Item
		opts  []Option
		index string
		want  error // default ErrInvalidItem
	}{
		{name: "empty", items: nil, index: "items is empty"},
		{name: "unknown type", items: []Item{{Type: TextItem, Text: "a"}, {Type: "sticker", Source: "x"}}, index: "item 1"},
		{name: "text without text", items: []Item{{Type: ImageItem, Data: pngBytes}, {Type: TextItem}}, index: "item 1"},
		{name: "markdown without text", items: []Item{{Type: MarkdownItem}}, index: "item 0"},
		{name: "media without source", items: []Item{{Type: TextItem, Text: "a"}, {Type: TextItem, Text: "b"}, {Type: VideoItem}}, index: "item 2"},
		{name: "text with a source", items: []Item{{Type: TextItem, Text: "a", Source: "x.png"}}, index: "item 0"},
		{name: "missing file", items: []Item{{Type: FileItem, Source: "/definitely/not/here.csv"}}, index: "item 0"},
		{name: "ambiguous WithFilename", items: []Item{{Type: FileItem, Data: []byte("a")}, {Type: FileItem, Data: []byte("b")}}, opts: []Option{WithFilename("x")}, index: "2", want: ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &fakeBackend{}
			c := newTestClient(t, b)
			n, err := c.PushMixed(context.Background(), "qq", "g", "", "", tt.items, tt.opts...)
			want := tt.want
			if want == nil {
				want = ErrInvalidItem
			}
			require.ErrorIs(t, err, want)
			assert.Contains(t, err.Error(), tt.index)
			assert.Zero(t, n)
			assert.Zero(t, b.calls(), "nothing is sent when any item is bad")
		})
	}
}

func TestPushMediaEmptySource(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	c := newTestClient(t, b)
	_, err := c.PushImage(context.Background(), "qq", "g", "", "", " ")
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.Contains(t, err.Error(), "imageURL")
	assert.Zero(t, b.calls())
}

func FuzzPrepareSource(f *testing.F) {
	for _, s := range []string{"base64://aGVsbG8=", "data:image/png;base64,iVBORw0KGgo=", "https://x/y.png",
		"file:///tmp/x", "./daily.png", "data:,x", "base64://", "ftp://a", "http://", "data:;base64,%%%",
		"http://127.0.0.1/x", "http://[::ffff:169.254.169.254]/latest", "http://LOCALHOST./a", "https://[fe80::1%25eth0]/",
		"http://0x7f000001/", "http://100.64.0.1/", "data:secretpayloadwithoutcomma", "FILE:///etc/passwd", "/dev/zero"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []SourcePolicy{TrustedSources, UntrustedSources} {
			src, err := prepareSource(Item{Type: FileItem, Source: s}, p)
			if err != nil {
				if src != nil {
					t.Fatal("source and error together")
				}
				if !errors.Is(err, ErrInvalidItem) {
					t.Fatalf("%q: not ErrInvalidItem: %v", s, err)
				}
				// An inline payload never comes back in the error.
				for _, prefix := range []string{"base64://", "data:"} {
					if p, ok := strings.CutPrefix(s, prefix); ok && len(p) > 16 && strings.Contains(err.Error(), p) {
						t.Fatalf("error echoes the payload: %v", err)
					}
				}
				continue
			}
			if src.kind == srcMemory && src.data == nil && s != "base64://" && !strings.HasSuffix(s, ",") {
				// A decoded source always has its bytes.
				if len(s) > len("base64://") {
					t.Fatalf("no data for %q", s)
				}
			}
			if p.LocalFiles {
				continue
			}
			// Untrusted: never a local file, never a literal address or
			// name that is not public.
			switch src.kind {
			case srcFile:
				t.Fatalf("%q read as a local file under UntrustedSources", s)
			case srcURL:
				host := strings.TrimSuffix(strings.ToLower(src.url.Hostname()), ".")
				if host == "localhost" || strings.HasSuffix(host, ".localhost") {
					t.Fatalf("%q: loopback name allowed", s)
				}
				if ip, err := netip.ParseAddr(host); err == nil {
					if _, bad := blockedAddr(ip); bad {
						t.Fatalf("%q: address %s allowed", s, ip)
					}
				}
			}
		}
	})
}
