package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

var ctx = context.Background()

// transport is shared by the SDK and the raw loop of a benchmark, tuned
// the same way, so the comparison is of the code above it.
func transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return tr
}

// run drives push at 1 goroutine (g1) or 8 (g8) and reports pushes/s.
func run(b *testing.B, goroutines int, push func(i int64) error) {
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	if goroutines == 1 {
		for b.Loop() {
			if err := push(seq.Add(1)); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, goroutines/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := push(seq.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// rawWeCom is the hand-written floor: build the same JSON body, POST it,
// read the answer and check errcode, as a careful hand-written client does.
func rawWeCom(hc *http.Client, sendURL string) func(i int64) error {
	return func(i int64) error {
		body := make([]byte, 0, 96)
		body = append(body, `{"chatid":"room","msgtype":"text","text":{"content":"report `...)
		body = strconv.AppendInt(body, i, 10)
		body = append(body, `"}}`...)
		var r struct {
			ErrCode int `json:"errcode"`
		}
		return rawPost(hc, sendURL, body, &r, func() bool { return r.ErrCode == 0 })
	}
}

// rawPost is the hand-written request of both raw loops: POST with the
// SDK's default 5 s timeout (any careful request has one), read the
// answer, decode it into answer and check it.
func rawPost(hc *http.Client, u string, body []byte, answer any, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, answer); err != nil || !ok() {
		return fmt.Errorf("raw: %s", data)
	}
	return nil
}

func sdkWeCom(b *testing.B, wc *imtest.WeCom, hc *http.Client) func(i int64) error {
	push, err := newWeComBot(wc.Key, wc.URL, hc)
	if err != nil {
		b.Fatal(err)
	}
	return push
}

// newWeComBot is the SDK side of the comparison: a middleware.Client with
// one WeCom account, pacing off.
func newWeComBot(key, base string, hc *http.Client) (func(i int64) error, error) {
	bot, err := wecom.New(key, wecom.WithBaseURL(base), wecom.WithHTTPClient(hc), wecom.WithRateLimit(0))
	if err != nil {
		return nil, err
	}
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Backend: bot}))
	if err != nil {
		return nil, err
	}
	return func(i int64) error {
		_, err := c.Push(ctx, "wecom", "room", "", "", "report "+strconv.FormatInt(i, 10))
		return err
	}, nil
}

// BenchmarkWeComText compares middleware.Push (WeCom text) with the raw
// loop, against the same loopback emulator, in the same run.
func BenchmarkWeComText(b *testing.B) {
	for _, g := range []int{1, 8} {
		for _, kind := range []string{"raw", "sdk"} {
			b.Run(fmt.Sprintf("%s/g%d", kind, g), func(b *testing.B) {
				wc := imtest.NewWeCom(imtest.WithWeComRate(0), imtest.WithWeComRecording(false))
				defer wc.Close()
				tr := transport()
				defer tr.CloseIdleConnections()
				hc := &http.Client{Transport: tr}
				push := rawWeCom(hc, wc.WebhookURL())
				if kind == "sdk" {
					push = sdkWeCom(b, wc, hc)
				}
				run(b, g, push)
			})
		}
	}
}

const (
	timApp    = 1400000000
	timSecret = "bench-secret-key"
	timAdmin  = "administrator"
)

// rawTIM POSTs the same sendmsg body with a signature made once, a fresh
// random per request, and checks ErrorCode.
func rawTIM(hc *http.Client, base string) func(i int64) error {
	sig, err := timchat.GenUserSig(timApp, timSecret, timAdmin, time.Now(), 24*time.Hour)
	if err != nil {
		panic(err)
	}
	prefix := base + "/v4/openim/sendmsg?contenttype=json&identifier=" + timAdmin + "&sdkappid=" + strconv.Itoa(timApp) + "&usersig=" + url.QueryEscape(sig) + "&random="
	return func(i int64) error {
		body := fmt.Appendf(nil, `{"To_Account":"alice","MsgSeq":%d,"MsgRandom":%d,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"report %d"}}]}`, uint32(i), uint32(i*7919), i)
		var r struct {
			ErrorCode int `json:"ErrorCode"`
		}
		return rawPost(hc, prefix+strconv.FormatUint(uint64(uint32(i*31)), 10), body, &r, func() bool { return r.ErrorCode == 0 })
	}
}

// BenchmarkTIMSendmsg compares middleware.Push (TIM sendmsg, signature
// cached) with the raw loop against the same TIM emulator.
func BenchmarkTIMSendmsg(b *testing.B) {
	for _, g := range []int{1, 8} {
		for _, kind := range []string{"raw", "sdk"} {
			b.Run(fmt.Sprintf("%s/g%d", kind, g), func(b *testing.B) {
				tim := imtest.NewTIM(imtest.WithTIMApp(timApp, timSecret, timAdmin), imtest.WithTIMRecording(false))
				defer tim.Close()
				tr := transport()
				defer tr.CloseIdleConnections()
				hc := &http.Client{Transport: tr}
				push := rawTIM(hc, tim.URL)
				if kind == "sdk" {
					var err error
					if push, err = newTIMBot(tim.URL, hc); err != nil {
						b.Fatal(err)
					}
				}
				run(b, g, push)
			})
		}
	}
}

// newTIMBot is the SDK side of the TIM comparison.
func newTIMBot(base string, hc *http.Client) (func(i int64) error, error) {
	tc, err := timchat.New(timchat.Config{SDKAppID: timApp, SecretKey: timSecret, Admin: timAdmin, BaseURL: base}, timchat.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Backend: tc}))
	if err != nil {
		return nil, err
	}
	return func(i int64) error {
		_, err := c.Push(ctx, "tim", "", "alice", "", "report "+strconv.FormatInt(i, 10))
		return err
	}, nil
}

// sink is a WeCom stand-in that streams uploads to io.Discard, so the
// process's heap shows the client's memory only.
func sink() *httptest.Server {
	var n atomic.Int64
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/cgi-bin/webhook/upload_media" {
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","type":"file","media_id":"m%d","created_at":"1"}`, n.Add(1))
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
}

// heapSampler watches live heap bytes until stopped and returns the peak.
func heapSampler() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		if v := read(); v > peak.Load() {
			peak.Store(v)
		}
		return peak.Load()
	}
}

func bigFile(tb testing.TB) string {
	p := filepath.Join(tb.TempDir(), "big.bin")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for range (20 << 20) / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			tb.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

// pushFile20MB pushes a 20 MB file to WeCom through the SDK and returns the
// peak live heap above the starting point.
func pushFile20MB(tb testing.TB, c *middleware.Client, path string) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	stop := heapSampler()
	_, err := c.PushFile(ctx, "wecom", "room", "", "", path, middleware.WithTimeout(time.Minute))
	peak := stop()
	if err != nil {
		tb.Fatal(err)
	}
	if peak < base {
		return 0
	}
	return peak - base
}

// bufferedUpload is the usual peer approach: read the file, build the
// multipart body in memory, POST it.
func bufferedUpload(tb testing.TB, hc *http.Client, base, path string) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	start := sample[0].Value.Uint64()
	stop := heapSampler()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreateFormFile("media", "big.bin")
	_, _ = part.Write(data)
	_ = mw.Close()
	resp, err := hc.Post(base+"/cgi-bin/webhook/upload_media?key=bench-key-0001&type=file", mw.FormDataContentType(), &buf)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	peak := stop()
	runtime.KeepAlive(data)
	return peak - start
}

func uploadClient(tb testing.TB, base string, hc *http.Client) *middleware.Client {
	bot, err := wecom.New("bench-key-0001", wecom.WithBaseURL(base), wecom.WithHTTPClient(hc), wecom.WithRateLimit(0), wecom.WithMediaCache(nil))
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Backend: bot}))
	return c
}

// TestUploadPeakHeap: a 20 MB PushFile adds less than 1 MiB of live heap.
func TestUploadPeakHeap(t *testing.T) {
	srv := sink()
	defer srv.Close()
	tr := transport()
	defer tr.CloseIdleConnections()
	c := uploadClient(t, srv.URL, &http.Client{Transport: tr})
	path := bigFile(t)
	pushFile20MB(t, c, path) // warm up connections and pools
	// The best of three: unrelated runtime allocations can only add noise.
	peak := pushFile20MB(t, c, path)
	for range 2 {
		peak = min(peak, pushFile20MB(t, c, path))
	}
	t.Logf("20 MB PushFile: peak live heap +%d KiB", peak>>10)
	if peak >= 1<<20 {
		t.Fatalf("a 20 MB upload added %d KiB of peak heap; want < 1024 KiB (streamed)", peak>>10)
	}
}

// BenchmarkUpload20MB reports the peak heap of the streamed SDK upload and
// of a buffered reference, in the same run.
func BenchmarkUpload20MB(b *testing.B) {
	srv := sink()
	defer srv.Close()
	tr := transport()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	path := bigFile(b)
	b.Run("sdk-streamed", func(b *testing.B) {
		c := uploadClient(b, srv.URL, hc)
		var worst uint64
		b.SetBytes(20 << 20)
		for b.Loop() {
			worst = max(worst, pushFile20MB(b, c, path))
		}
		b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
	})
	b.Run("buffered-reference", func(b *testing.B) {
		var worst uint64
		b.SetBytes(20 << 20)
		for b.Loop() {
			worst = max(worst, bufferedUpload(b, hc, srv.URL, path))
		}
		b.ReportMetric(float64(worst)/(1<<20), "peak-heap-MiB")
	})
}
