package bench

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/wecom"
)

// settle waits until the goroutine count is back to want, and returns the
// stacks of what is left when it does not.
func settle(want int) (extra string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if runtime.NumGoroutine() <= want {
			return ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScale pushes 10 000 messages across 100 WeCom accounts with pacing
// on (each account's limiter active), then checks that every push arrived,
// no goroutine outlived the work, and the heap is back where it started.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	wc := imtest.NewWeCom(imtest.WithWeComRate(0), imtest.WithWeComRecording(false))
	defer wc.Close()
	tr := transport()
	hc := &http.Client{Transport: tr}
	c, err := middleware.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithHTTPClient(hc), wecom.WithRateLimit(6000))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddAccount(middleware.Account{ID: fmt.Sprint("bot", i), IM: "wecom", Backend: bot}); err != nil {
			t.Fatal(err)
		}
	}
	// One warm-up round so pools and connections exist before measuring.
	if _, err := c.Push(ctx, "wecom", "warm", "", "", "warm-up"); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	goroutines := runtime.NumGoroutine()
	heap := liveHeap()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 10000; i += 16 {
				acct := fmt.Sprint("bot", i%100)
				if _, err := c.Push(ctx, "wecom", "room-"+acct, "", "", fmt.Sprint("push ", i), middleware.WithAccountID(acct)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := wc.Requests(); got != 10001 {
		t.Fatalf("emulator saw %d requests, want 10001", got)
	}
	tr.CloseIdleConnections()
	if extra := settle(goroutines); extra != "" {
		t.Fatalf("goroutines leaked: %d now, %d before\n%s", runtime.NumGoroutine(), goroutines, firstStacks(extra))
	}
	after := liveHeap()
	runtime.KeepAlive(c)
	t.Logf("live heap before %d KiB, after %d KiB", heap>>10, after>>10)
	if after > heap+1<<20 {
		t.Fatalf("heap grew by %d KiB over 10 000 pushes", (after-heap)>>10)
	}
}

func firstStacks(s string) string {
	parts := strings.SplitN(s, "\n\n", 6)
	return strings.Join(parts[:min(5, len(parts))], "\n\n")
}
