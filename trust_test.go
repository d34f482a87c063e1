package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noCtx is the nil context a careless caller passes.
var noCtx context.Context

func TestNilContextIsAnError(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	c, err := NewClient(WithAccount(Account{ID: "a", IM: "x", Default: true, Backend: f}))
	require.NoError(t, err)
	n, err := c.Push(noCtx, "x", "g", "", "", "hello")
	assert.Zero(t, n)
	require.ErrorIs(t, err, errNilContext)
	_, err = c.PushMixed(noCtx, "x", "g", "", "", nil)
	require.Error(t, err)
	_, err = c.Resolve(noCtx, "x")
	require.ErrorIs(t, err, errNilContext)
	_, err = c.PushImage(noCtx, "x", "g", "", "", "")
	require.Error(t, err)
	assert.Zero(t, f.calls())
}

func TestDataURIWithoutCommaNeverEchoed(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat("c2VjcmV0", 20)
	c, f := newFakeClient(t)
	_, err := c.PushImage(context.Background(), "x", "g", "", "", "data:image/png;base64"+payload)
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.NotContains(t, err.Error(), payload)
	assert.NotContains(t, err.Error(), payload[:16])
	assert.Zero(t, f.calls())
}

func newFakeClient(t *testing.T, opts ...ClientOption) (*Client, *fakeBackend) {
	t.Helper()
	f := &fakeBackend{send: func(ctx context.Context, msg *Message) (int, error) {
		for i, it := range msg.Items {
			if it.Type.IsMedia() {
				md, err := msg.OpenMedia(ctx, i, 0)
				if err != nil {
					return 0, err
				}
				if _, err := md.Bytes(ctx); err != nil {
					return 0, err
				}
			}
		}
		return 1, nil
	}}
	c, err := NewClient(append([]ClientOption{WithAccount(Account{ID: "a", IM: "x", Default: true, Backend: f})}, opts...)...)
	require.NoError(t, err)
	return c, f
}

// A path checked as a regular file and swapped for a FIFO before it is
// opened: the open returns at once with an error, instead of blocking past
// the deadline waiting for a writer.
func TestFIFOSwappedInIsRefusedAtOnce(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	p := filepath.Join(t.TempDir(), "report.csv")
	require.NoError(t, os.WriteFile(p, []byte("a,b\n"), 0o600))
	msg := &Message{Items: []Item{{Type: FileItem, Source: p}}}
	var err error
	msg.sources, err = prepareItems(msg.Items, &callConfig{}, trusted())
	require.NoError(t, err)
	require.NoError(t, os.Remove(p))
	require.NoError(t, syscall.Mkfifo(p, 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := msg.OpenMedia(ctx, 0, 0)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrInvalidItem)
		assert.Contains(t, err.Error(), "not a regular file")
	case <-time.After(10 * time.Second):
		// Unblock the open so the goroutine can end, then fail.
		if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("opening the FIFO blocked")
	}
}

func TestDevicesAreNotFiles(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	c, f := newFakeClient(t)
	_, err := c.PushFile(context.Background(), "x", "g", "", "", "/dev/zero")
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.Zero(t, f.calls())
}

// A local file that grows after it was checked is not sent cut to its old
// size, and one that shrinks is not sent short.
func TestFileThatChangesSizeFailsItsRead(t *testing.T) {
	t.Parallel()
	for _, after := range []string{"a,b\n1,2\n3,4\n", "a,"} {
		p := filepath.Join(t.TempDir(), "r.csv")
		require.NoError(t, os.WriteFile(p, []byte("a,b\n1,2\n"), 0o600))
		msg := &Message{Items: []Item{{Type: FileItem, Source: p}}}
		md, err := msg.OpenMedia(context.Background(), 0, 0)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, []byte(after), 0o600))
		_, err = md.Bytes(context.Background())
		require.ErrorIs(t, err, ErrInvalidItem, "changed to %q", after)
	}
}

// A URL of unknown length (chunked) is counted as it streams past, not
// read into memory; past the limit it stops at once.
func TestChunkedURLIsCountedNotHeld(t *testing.T) {
	// Not parallel: TotalAlloc counts every goroutine of the process, so
	// this runs before the parallel tests start.
	const size = 32 << 20
	chunk := make([]byte, 64<<10)
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		n := size
		if r.URL.Path == "/endless" {
			n = 1 << 40
		}
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			served.Add(int64(len(chunk)))
			fl.Flush() // no Content-Length: chunked
		}
	}))
	t.Cleanup(srv.Close)

	msg := &Message{Items: []Item{{Type: FileItem, Source: srv.URL + "/big.bin"}}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	md, err := msg.OpenMedia(context.Background(), 0, 100<<20)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, int64(size), md.Size)
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocated, uint64(4<<20), "learning the size allocated %d bytes", allocated)
	// Reading it again fetches it again, checked against the count.
	n, err := io.Copy(io.Discard, mustOpen(t, md))
	require.NoError(t, err)
	assert.Equal(t, int64(size), n)

	served.Store(0)
	msg = &Message{Items: []Item{{Type: FileItem, Source: srv.URL + "/endless"}}}
	_, err = msg.OpenMedia(context.Background(), 0, 1<<20)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Less(t, served.Load(), int64(64<<20), "it kept reading past the limit")
}

func mustOpen(t *testing.T, md *Media) io.Reader {
	t.Helper()
	r, err := md.Open(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSourcePolicy(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("internal secrets"))
	}))
	t.Cleanup(srv.Close)
	p := filepath.Join(t.TempDir(), "daily.csv")
	require.NoError(t, os.WriteFile(p, []byte("a,b\n"), 0o600))
	ctx := context.Background()

	untrusted, f := newFakeClient(t, WithDefaultSourcePolicy(UntrustedSources))
	for _, src := range []string{p, "file://" + p, srv.URL + "/x", "http://localhost:1/x", "http://[::1]:1/x",
		"http://169.254.169.254/latest/meta-data", "http://[::ffff:10.0.0.1]/", "http://100.64.1.1/", "http://0.0.0.0/"} {
		_, err := untrusted.PushFile(ctx, "x", "g", "", "", src)
		require.ErrorIs(t, err, ErrInvalidItem, src)
		assert.Contains(t, err.Error(), "source policy", src)
	}
	// Inline bytes are always allowed.
	_, err := untrusted.PushFile(ctx, "x", "g", "", "", "base64://aGVsbG8=")
	require.NoError(t, err)
	_, err = untrusted.PushMixed(ctx, "x", "g", "", "", []Item{{Type: FileItem, Data: []byte("hello")}})
	require.NoError(t, err)
	assert.Equal(t, 2, f.calls())
	// The call's policy beats the Client's.
	_, err = untrusted.PushFile(ctx, "x", "g", "", "", p, WithSourcePolicy(TrustedSources))
	require.NoError(t, err)

	// The default trusts, as autClaw does.
	trustedClient, _ := newFakeClient(t)
	_, err = trustedClient.PushFile(ctx, "x", "g", "", "", p)
	require.NoError(t, err)
	_, err = trustedClient.PushFile(ctx, "x", "g", "", "", srv.URL+"/ok.txt")
	require.NoError(t, err)
	assert.Equal(t, int32(1), hits.Load(), "only the trusted fetch reached the server")

	// A query never shows in the refusal.
	_, err = untrusted.PushFile(ctx, "x", "g", "", "", "http://127.0.0.1/x?token=hunter2")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

// DNS rebinding, simulated with a caller's own media client whose dialer
// sends a public-looking name to loopback: the check runs on the address
// actually dialled.
func TestSourcePolicyChecksTheDialledAddress(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("internal"))
	}))
	t.Cleanup(srv.Close)
	rebinding := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}}
	c, f := newFakeClient(t, WithHTTPClient(rebinding), WithDefaultSourcePolicy(UntrustedSources))
	_, err := c.PushFile(context.Background(), "x", "g", "", "", "http://media.example.com/report.csv?sig=abc")
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.Contains(t, err.Error(), "loopback")
	assert.NotContains(t, err.Error(), "sig=abc")
	assert.Zero(t, hits.Load(), "a request reached the private address")
	assert.Equal(t, 1, f.calls(), "refused while the backend opened it, before anything was sent")

	// net/http's own dialer: the check runs in net.Dialer.Control.
	g := guardedClone(&http.Transport{})
	_, err = g.DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.Zero(t, hits.Load())
}

func TestSourcePolicyChecksEveryRedirect(t *testing.T) {
	t.Parallel()
	var target atomic.Int32
	final := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.Add(1)
		_, _ = w.Write([]byte("x"))
	}))
	t.Cleanup(final.Close)
	// 127.0.0.1 is allowed by name; the redirect names localhost.
	hop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(final.URL, "127.0.0.1", "localhost", 1)+"/f", http.StatusFound)
	}))
	t.Cleanup(hop.Close)
	p := SourcePolicy{PrivateNetworks: true, Hosts: []string{"127.0.0.1"}, MaxRedirects: 3}
	c, _ := newFakeClient(t, WithDefaultSourcePolicy(p))
	_, err := c.PushFile(context.Background(), "x", "g", "", "", hop.URL+"/start")
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.Contains(t, err.Error(), `"localhost" is not in the policy's Hosts`)
	assert.Zero(t, target.Load())

	// MaxRedirects counts hops.
	var loops atomic.Int32
	var loop *httptest.Server
	loop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loops.Add(1)
		http.Redirect(w, r, loop.URL+fmt.Sprintf("/%d", loops.Load()), http.StatusFound)
	}))
	t.Cleanup(loop.Close)
	_, err = c.PushFile(context.Background(), "x", "g", "", "", loop.URL+"/0")
	require.ErrorIs(t, err, ErrInvalidItem)
	assert.Contains(t, err.Error(), "more than 3 redirects")
	assert.Equal(t, int32(4), loops.Load())
}

func TestSourcePolicyHosts(t *testing.T) {
	t.Parallel()
	p := SourcePolicy{Hosts: []string{"cdn.example.com", "*.Assets.example.org"}}.clone()
	for host, want := range map[string]bool{
		"cdn.example.com": true, "CDN.example.com": false, // checkURL lower-cases before asking
		"x.cdn.example.com": false, "a.assets.example.org": true, "a.b.assets.example.org": true,
		"assets.example.org": false, "evilassets.example.org": false,
	} {
		assert.Equal(t, want, p.allowsHost(host), host)
	}
	for _, bad := range []SourcePolicy{{MaxRedirects: -1}, {Hosts: []string{""}}, {Hosts: []string{"*."}}, {Hosts: []string{"a/b"}}} {
		_, err := NewClient(WithDefaultSourcePolicy(bad))
		require.ErrorIs(t, err, ErrInvalidOption, "%+v", bad)
		c, _ := newFakeClient(t)
		_, err = c.PushFile(context.Background(), "x", "g", "", "", "base64://aGVsbG8=", WithSourcePolicy(bad))
		require.ErrorIs(t, err, ErrInvalidOption)
	}
	// The default is TrustedSources' value, written twice (policy.go) so
	// that the exported variable cannot change it: the two stay equal.
	assert.True(t, trusted().LocalFiles)
	assert.Equal(t, TrustedSources, trusted())
}

// Writing to the exported variable does not change a Client's default. Not
// parallel: it writes a package variable, restored before the parallel
// tests resume.
func TestTrustedSourcesVariableIsNotTheDefault(t *testing.T) {
	saved := TrustedSources
	t.Cleanup(func() { TrustedSources = saved })
	TrustedSources = UntrustedSources
	p := filepath.Join(t.TempDir(), "daily.csv")
	require.NoError(t, os.WriteFile(p, []byte("a,b\n"), 0o600))
	c, f := newFakeClient(t)
	_, err := c.PushFile(context.Background(), "x", "g", "", "", p)
	require.NoError(t, err, "the default still reads local files")
	assert.Equal(t, 1, f.calls())
}

func TestBlockedAddresses(t *testing.T) {
	t.Parallel()
	for addr, blocked := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:80": true, "10.1.2.3:80": true, "172.16.0.1:80": true, "192.168.1.1:80": true,
		"169.254.169.254:80": true, "[fe80::1]:80": true, "100.64.0.1:80": true, "[fd00::1]:80": true,
		"0.0.0.0:80": true, "[::]:80": true, "[::ffff:127.0.0.1]:80": true, "[64:ff9b::a9fe:a9fe]:80": true,
		"224.0.0.1:80": true, "8.8.8.8:443": false, "[2001:4860:4860::8888]:443": false, "100.128.0.1:80": false,
	} {
		err := checkDialled("tcp", addr, nil)
		assert.Equal(t, blocked, err != nil, addr)
		if err != nil {
			assert.True(t, errors.Is(err, ErrInvalidItem))
		}
	}
}
