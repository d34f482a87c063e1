package bench

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// memTransport answers every request in memory: the benchmarks below
// measure the client-side cost alone, without a socket.
type memTransport struct{ body string }

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(m.body)), ContentLength: int64(len(m.body)), Request: r}, nil
}

// BenchmarkClientSideCost is the CPU and memory the SDK spends per push
// beyond a hand-written request, with the network taken out.
func BenchmarkClientSideCost(b *testing.B) {
	hc := &http.Client{Transport: memTransport{body: `{"errcode":0,"errmsg":"ok"}`}}
	b.Run("raw", func(b *testing.B) {
		run(b, 1, rawWeCom(hc, "http://wecom.test/cgi-bin/webhook/send?key=bench-key-0001"))
	})
	b.Run("sdk", func(b *testing.B) {
		bot, _ := newWeComBot("bench-key-0001", "http://wecom.test", hc)
		run(b, 1, bot)
	})
}

// BenchmarkTIMClientSideCost is BenchmarkClientSideCost for TIM sendmsg.
func BenchmarkTIMClientSideCost(b *testing.B) {
	hc := &http.Client{Transport: memTransport{body: `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgTime":1,"MsgKey":"k"}`}}
	b.Run("raw", func(b *testing.B) { run(b, 1, rawTIM(hc, "http://tim.test")) })
	b.Run("sdk", func(b *testing.B) {
		push, err := newTIMBot("http://tim.test", hc)
		if err != nil {
			b.Fatal(err)
		}
		run(b, 1, push)
	})
}
