package imtest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/wecom"
)

// TestCancelMidUpload cancels a push while a slow server is still reading
// its upload: it returns promptly and leaves no goroutine.
func TestCancelMidUpload(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1024)
		select {
		case started <- struct{}{}:
		default:
		}
		for {
			if _, err := r.Body.Read(buf); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})}
	ln, err := netListen()
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	path := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(path, make([]byte, 8<<20), 0o600))
	tr := &http.Transport{}
	bot, err := wecom.New("cancel-test-key", wecom.WithBaseURL("http://"+ln.Addr().String()), wecom.WithHTTPClient(&http.Client{Transport: tr}), wecom.WithRateLimit(0))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: bot}))

	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := mc.PushFile(ctx, "wecom", "room", "", "", path, middleware.WithTimeout(time.Minute))
		done <- err
	}()
	<-started
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("PushFile did not return after its context was cancelled")
	}
	tr.CloseIdleConnections()
	srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "no goroutine left behind")
}

// TestChurnOverEmulators: 1000 concurrent pushes over 10 WeCom accounts
// while accounts are added, removed and switched on and off. Run with
// -race. Every push either arrives once or fails with a selection error.
func TestChurnOverEmulators(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	mc, err := middleware.NewClient()
	require.NoError(t, err)
	for i := range 10 {
		bot, err := wecom.New(e.wc.Key, wecom.WithBaseURL(e.wc.URL), wecom.WithRateLimit(0))
		require.NoError(t, err)
		require.NoError(t, mc.AddAccount(middleware.Account{ID: fmt.Sprint("a", i), IM: "wecom", Backend: bot}))
	}
	spare, _ := wecom.New(e.wc.Key, wecom.WithBaseURL(e.wc.URL), wecom.WithRateLimit(0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				n, err := mc.Push(bg, "wecom", fmt.Sprint("room", g), "", "", fmt.Sprint("m ", g, " ", i))
				switch {
				case err == nil:
					assert.Equal(t, 1, n)
					mu.Lock()
					ok++
					mu.Unlock()
				case errors.Is(err, middleware.ErrAccountOffline), errors.Is(err, middleware.ErrNoAccount):
					assert.Zero(t, n)
				default:
					t.Errorf("unexpected: %v", err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 400 {
			id := fmt.Sprint("a", i%10)
			switch i % 4 {
			case 0:
				_ = mc.SetOnline(id, false)
			case 1:
				_ = mc.SetOnline(id, true)
			case 2:
				_ = mc.RemoveAccount(id)
			case 3:
				_ = mc.AddAccount(middleware.Account{ID: id, IM: "wecom", Backend: spare})
			}
		}
	}()
	wg.Wait()
	assert.Equal(t, ok, len(e.wc.Messages()), "every success arrived exactly once")
	assert.Positive(t, ok)
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
