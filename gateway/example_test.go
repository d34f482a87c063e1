package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/imbridge/middleware/gateway"
	"github.com/imbridge/middleware/imtest"
)

// A gateway in a Go program: Alertmanager's notification in, the digest
// out at the (emulated) WeCom group, in the configured zone.
func Example() {
	wc := imtest.NewWeCom()
	defer wc.Close()
	cfg, err := gateway.Parse([]byte(fmt.Sprintf(`
accounts:
  - ops wecom://%s?base=%s
timezone: Asia/Shanghai
routes:
  - name: ops
    account: ops
`, wc.Key, url.QueryEscape(wc.URL))))
	if err != nil {
		panic(err)
	}
	gw, err := gateway.New(cfg, gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()

	resp, err := http.Post("http://"+ln.Addr().String()+"/alertmanager/ops", "application/json", strings.NewReader(`{
	  "version": "4", "status": "firing", "groupKey": "{}:{alertname=\"DiskFull\"}",
	  "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {"alertname": "DiskFull"},
	  "alerts": [{"status": "firing", "fingerprint": "a1b2c3d4e5f60718",
	    "labels": {"alertname": "DiskFull", "instance": "host-1"},
	    "annotations": {"summary": "disk almost full"},
	    "startsAt": "2026-11-29T06:03:05Z", "endsAt": "0001-01-01T00:00:00Z"}]}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	for len(wc.Messages()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(wc.Messages()[0].Content)
	stop()
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// 200
	// [FIRING:1] DiskFull
	// firing 1, resolved 0
	// FIRING   2026-11-29 14:03:05 CST  instance=host-1  disk almost full
}
