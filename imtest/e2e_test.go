package imtest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

const (
	appID  = 1400000042
	secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	admin  = "administrator"
)

var bg = context.Background()

func pngOf(t testing.TB, w, h int) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))))
	return buf.Bytes()
}

type env struct {
	wc   *imtest.WeCom
	tim  *imtest.TIM
	host *imtest.MediaHost
	w    *wecom.Client
	tc   *timchat.Client
	mc   *middleware.Client
	dir  string
}

func newEnv(t *testing.T, wopts []wecom.Option, topts []timchat.Option) *env {
	t.Helper()
	e := &env{wc: imtest.NewWeCom(), tim: imtest.NewTIM(imtest.WithTIMApp(appID, secret, admin)), host: imtest.NewMediaHost(), dir: t.TempDir()}
	t.Cleanup(func() { e.wc.Close(); e.tim.Close(); e.host.Close() })
	var err error
	e.w, err = wecom.New(e.wc.Key, append([]wecom.Option{wecom.WithBaseURL(e.wc.URL), wecom.WithRateLimit(0), wecom.WithRetry(3, time.Millisecond)}, wopts...)...)
	require.NoError(t, err)
	e.tc, err = timchat.New(timchat.Config{SDKAppID: appID, SecretKey: secret, Admin: admin, BaseURL: e.tim.URL},
		append([]timchat.Option{timchat.WithUploader(e.host), timchat.WithRetry(3, time.Millisecond)}, topts...)...)
	require.NoError(t, err)
	e.mc, err = middleware.NewClient(
		middleware.WithAccount(middleware.Account{ID: "wecom-ops", IM: "wecom", Default: true, Backend: e.w}),
		middleware.WithAccount(middleware.Account{ID: "tim-admin", IM: "tim", Default: true, Backend: e.tc}),
	)
	require.NoError(t, err)
	return e
}

func (e *env) file(t *testing.T, name string, data []byte) string {
	p := filepath.Join(e.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

var amr = append([]byte("#!AMR\n"), bytes.Repeat([]byte{0x3c, 0x48, 0xf5, 0x1f}, 40)...)

func TestEveryHelperWeCom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	img := pngOf(t, 30, 20)
	steps := []func() (int, error){
		func() (int, error) { return e.mc.Push(bg, "wecom", "room", "", "Daily", "all green") },
		func() (int, error) { return e.mc.Push(bg, "wecom", "room", "", "", "**bold**", wecom.Markdown()) },
		func() (int, error) { return e.mc.PushImage(bg, "wecom", "room", "", "", e.file(t, "chart.png", img)) },
		func() (int, error) { return e.mc.PushVoice(bg, "wecom", "room", "", "", e.file(t, "n.amr", amr)) },
		func() (int, error) {
			return e.mc.PushVideo(bg, "wecom", "room", "", "", e.file(t, "demo.mp4", []byte("\x00\x00\x00\x18ftypmp42 video bytes")))
		},
		func() (int, error) {
			return e.mc.PushFile(bg, "wecom", "room", "", "", e.file(t, "d.csv", []byte("a,b\n1,2\n")), middleware.WithFilename("日报.csv"))
		},
		func() (int, error) {
			return e.mc.PushMixed(bg, "wecom", "room", "zhangsan", "", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Data: img},
			})
		},
	}
	for i, s := range steps {
		n, err := s()
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, 1, n)
	}
	msgs := e.wc.Messages()
	var types []string
	for _, m := range msgs {
		types = append(types, m.Type)
	}
	assert.Equal(t, []string{"text", "markdown", "image", "voice", "file", "file", "markdown", "image"}, types)
	assert.Equal(t, "all green", msgs[0].Content)
	assert.Equal(t, img, msgs[2].Image)
	assert.Equal(t, amr, msgs[3].File)
	assert.Equal(t, "demo.mp4", msgs[4].FileName)
	assert.Equal(t, "日报.csv", msgs[5].FileName)
	assert.Equal(t, "Result:\n<@zhangsan>", msgs[6].Content)
}

func TestEveryHelperTIM(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	img := pngOf(t, 30, 20)
	thumb := e.file(t, "thumb.png", pngOf(t, 8, 6))
	steps := []func() (int, error){
		func() (int, error) { return e.mc.Push(bg, "tim", "", "alice", "Daily", "all green") },
		func() (int, error) { return e.mc.Push(bg, "tim", "@TGS#1", "bob", "", "# md") },
		func() (int, error) { return e.mc.PushImage(bg, "tim", "", "alice", "", e.file(t, "chart.png", img)) },
		func() (int, error) { return e.mc.PushVoice(bg, "tim", "", "alice", "", e.file(t, "n.amr", amr)) },
		func() (int, error) {
			return e.mc.PushVideo(bg, "tim", "", "alice", "", e.file(t, "demo.mp4", []byte("\x00\x00\x00\x18ftypmp42 video")), timchat.Thumbnail(thumb))
		},
		func() (int, error) {
			return e.mc.PushFile(bg, "tim", "", "alice|bob", "", e.file(t, "d.csv", []byte("a,b\n")))
		},
		func() (int, error) {
			return e.mc.PushMixed(bg, "tim", "@TGS#1", "", "Result", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Data: img},
			})
		},
		func() (int, error) { return e.mc.Push(bg, "tim", "", "", "", "to everyone", timchat.Broadcast(nil)) },
	}
	want := []int{1, 1, 1, 1, 1, 2, 1, 1}
	for i, s := range steps {
		n, err := s()
		require.NoError(t, err, "step %d", i)
		assert.Equal(t, want[i], n, "step %d", i)
	}
	msgs := e.tim.Messages()
	require.Len(t, msgs, 8)
	assert.Equal(t, "openim/sendmsg", msgs[0].API)
	assert.Equal(t, []string{"bob"}, msgs[1].GroupAt)
	im := msgs[2].Elements[0].MsgContent.(*timchat.ImageElem)
	assert.Equal(t, 30, im.ImageInfoArray[0].Width)
	got, ok := e.host.Get(im.ImageInfoArray[0].URL)
	require.True(t, ok)
	assert.Equal(t, img, got)
	assert.Equal(t, timchat.TypeSound, msgs[3].Elements[0].MsgType)
	v := msgs[4].Elements[0].MsgContent.(*timchat.VideoElem)
	assert.Equal(t, 8, v.ThumbWidth)
	assert.Equal(t, "openim/batchsendmsg", msgs[5].API)
	assert.Equal(t, []string{"alice", "bob"}, msgs[5].To)
	assert.Len(t, msgs[6].Elements, 2, "mixed goes as one message")
	assert.True(t, msgs[7].Broadcast)
}

func TestFaultsWeCom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		inject    func(*imtest.WeCom)
		wantErr   error // nil: recovers
		delivered int
		requests  int
	}{
		{"busy then ok", func(w *imtest.WeCom) { w.FailNext(2, -1) }, nil, 1, 3},
		{"concurrency limit then ok", func(w *imtest.WeCom) { w.FailNext(1, 45033) }, nil, 1, 2},
		{"rate limited", func(w *imtest.WeCom) { w.FailNext(1, 45009) }, middleware.ErrRateLimited, 0, 1},
		{"bot removed", func(w *imtest.WeCom) { w.FailNext(1, 93000) }, middleware.ErrUnauthorized, 0, 1},
		{"HTTP 502", func(w *imtest.WeCom) { w.FailNextHTTP(1, 502) }, middleware.ErrMaybeDelivered, 0, 1},
		{"dropped before read", func(w *imtest.WeCom) { w.DropBeforeRead(1) }, middleware.ErrMaybeDelivered, 0, 1},
		{"dropped after read", func(w *imtest.WeCom) { w.DropAfterRead(1) }, middleware.ErrMaybeDelivered, 1, 1},
		{"malformed answer", func(w *imtest.WeCom) { w.Malformed(1) }, middleware.ErrMaybeDelivered, 1, 1},
		{"truncated answer", func(w *imtest.WeCom) { w.Truncated(1) }, middleware.ErrMaybeDelivered, 1, 1},
		{"no content type", func(w *imtest.WeCom) { w.NoContentType(true) }, nil, 1, 1},
		{"latency", func(w *imtest.WeCom) { w.Latency(50 * time.Millisecond) }, nil, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil, nil)
			tt.inject(e.wc)
			n, err := e.mc.Push(bg, "wecom", "room", "", "", "exactly once")
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, 1, n)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Zero(t, n, "a failure never counts as delivered")
			}
			assert.Len(t, e.wc.Messages(), tt.delivered, "no duplicate: WeCom does not deduplicate")
			assert.Equal(t, tt.requests, e.wc.Requests(), "no hidden retry")
		})
	}
	// Upload faults are retried: an upload creates no message.
	e := newEnv(t, nil, nil)
	e.wc.DropAfterRead(1)
	_, err := e.mc.PushFile(bg, "wecom", "room", "", "", e.file(t, "r.txt", []byte("report body")))
	require.NoError(t, err)
	assert.Len(t, e.wc.Messages(), 1)

	// Answered too late: the message is delivered and the client cannot know.
	e = newEnv(t, nil, nil)
	e.wc.AnswerLatency(2 * time.Second)
	_, err = e.mc.Push(bg, "wecom", "room", "", "", "late", middleware.WithTimeout(100*time.Millisecond))
	require.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Len(t, e.wc.Messages(), 1)
}

func TestFaultsTIM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		inject   func(*imtest.TIM)
		wantErr  error
		requests int
	}{
		{"internal error then ok", func(s *imtest.TIM) { s.FailNext(2, 91000) }, nil, 3},
		{"throttled then ok", func(s *imtest.TIM) { s.FailNext(1, 60008) }, nil, 2},
		{"HTTP 503 then ok", func(s *imtest.TIM) { s.FailNextHTTP(1, 503) }, nil, 2},
		{"dropped before read", func(s *imtest.TIM) { s.DropBeforeRead(1) }, nil, 2},
		{"dropped after read: retry deduplicated", func(s *imtest.TIM) { s.DropAfterRead(1) }, nil, 2},
		{"malformed: retry deduplicated", func(s *imtest.TIM) { s.Malformed(1) }, nil, 2},
		{"truncated: retry deduplicated", func(s *imtest.TIM) { s.Truncated(1) }, nil, 2},
		{"no content type", func(s *imtest.TIM) { s.NoContentType(true) }, nil, 1},
		{"latency", func(s *imtest.TIM) { s.Latency(30 * time.Millisecond) }, nil, 1},
		{"permanent: invalid user", func(s *imtest.TIM) { s.FailNext(1, 20003) }, middleware.ErrInvalidTarget, 1},
		{"permanent: daily quota", func(s *imtest.TIM) { s.FailNext(1, 90047) }, middleware.ErrRateLimited, 1},
		{"always malformed", func(s *imtest.TIM) { s.Malformed(3) }, middleware.ErrMaybeDelivered, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil, nil)
			tt.inject(e.tim)
			n, err := e.mc.Push(bg, "tim", "", "alice", "", "exactly once")
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, 1, n)
				assert.Len(t, e.tim.Messages(), 1, "exactly one delivered")
			} else {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Zero(t, n)
			}
			assert.Equal(t, tt.requests, e.tim.Requests())
		})
	}
}

func TestTIMDedupAndSpacing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.tim.DropAfterRead(1)
	_, err := e.mc.Push(bg, "tim", "@TGS#1", "", "", "group once")
	require.NoError(t, err)
	assert.Len(t, e.tim.Messages(), 1)
	assert.Equal(t, 1, e.tim.Duplicates(), "the retry carried the same Random")
	_, err = e.mc.Push(bg, "tim", "", "", "", "first", timchat.Broadcast(nil))
	require.NoError(t, err)
	_, err = e.mc.Push(bg, "tim", "", "", "", "second", timchat.Broadcast(nil))
	require.NoError(t, err, "the client keeps broadcasts more than a second apart")
	assert.Len(t, e.tim.Messages(), 3)
}

func TestTIMUnknownTargets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	e.tim.AddUsers("alice", "bob")
	e.tim.AddGroups("@TGS#1")
	n, err := e.mc.Push(bg, "tim", "", "alice|mallory|bob", "", "hi")
	assert.Equal(t, 2, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "mallory", pe.FailedTargets[0].ID)
	_, err = e.mc.Push(bg, "tim", "@TGS#nope", "", "", "hi")
	require.ErrorIs(t, err, middleware.ErrInvalidTarget)
}

// TestEmulatorsCatchMistakes sends hand-made requests with the mistakes
// peers make and checks the emulators refuse them.
func TestEmulatorsCatchMistakes(t *testing.T) {
	t.Parallel()
	wc := imtest.NewWeCom()
	defer wc.Close()
	post := func(path, ct, body string) string {
		resp, err := http.Post(wc.URL+path, ct, strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return buf.String()
	}
	send := "/cgi-bin/webhook/send?key=" + wc.Key
	img := base64.StdEncoding.EncodeToString(pngOf(t, 2, 2))
	for _, c := range []struct{ body, code string }{
		{`{"msgtype":"text","text":{"content":"x"}}`, `"errcode":0`},
		{`msgtype=text`, `"errcode":40008`},
		{`{"msgtype":"text","text":{"content":"` + strings.Repeat("x", 2049) + `"}}`, `"errcode":45002`},
		{`{"msgtype":"image","image":{"base64":"` + img + `","md5":"00000000000000000000000000000000"}}`, `"errcode":301019`},
		{`{"msgtype":"news","news":{"articles":[{"title":"t","url":"u","picurl":null}]}}`, `"errcode":40058`},
		{`{"msgtype":"file","file":{"media_id":"nope"}}`, `"errcode":40007`},
		{`{"msgtype":"text","chatid":"a|b","visible_to_user":"u","text":{"content":"x"}}`, `"errcode":40058`},
	} {
		assert.Contains(t, post(send, "application/json", c.body), c.code, c.body[:min(40, len(c.body))])
	}
	assert.Contains(t, post("/cgi-bin/webhook/send?key=wrong", "application/json", `{"msgtype":"text","text":{"content":"x"}}`), `"errcode":93000`)
	upload := "/cgi-bin/webhook/upload_media?key=" + wc.Key + "&type=file"
	rfc2231 := "--B\r\nContent-Disposition: form-data; name=\"media\"; filename*=UTF-8''%E6%97%A5.txt; filelength=6\r\nContent-Type: text/plain\r\n\r\nmytext\r\n--B--\r\n"
	assert.Contains(t, post(upload, "multipart/form-data; boundary=B", rfc2231), `"errcode":44001`)
	badLen := "--B\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.txt\"; filelength=99\r\nContent-Type: text/plain\r\n\r\nmytext\r\n--B--\r\n"
	assert.Contains(t, post(upload, "multipart/form-data; boundary=B", badLen), `"errcode":44001`)
	good := strings.Replace(badLen, "filelength=99", "filelength=6", 1)
	assert.Contains(t, post(upload, "multipart/form-data; boundary=B", good), `"errcode":0`)
	assert.Contains(t, post(strings.Replace(upload, "type=file", "type=voice", 1), "multipart/form-data; boundary=B", good), `"errcode":40004`, "voice must be AMR")

	// TIM: wrong key spelling, a bad signature, a second custom element.
	tim := imtest.NewTIM(imtest.WithTIMApp(appID, secret, admin))
	defer tim.Close()
	sig, err := timchat.GenUserSig(appID, secret, admin, time.Now(), time.Hour)
	require.NoError(t, err)
	q := "?sdkappid=1400000042&identifier=administrator&random=7&contenttype=json&usersig="
	tpost := func(api, sig, body string) string {
		resp, err := http.Post(tim.URL+"/v4/"+api+q+sig, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return buf.String()
	}
	ok := `{"To_Account":"a","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`
	assert.Contains(t, tpost("openim/sendmsg", sig, ok), `"ErrorCode":0`)
	assert.Contains(t, tpost("openim/sendmsg", "garbage", ok), `"ErrorCode":70052`)
	other, _ := timchat.GenUserSig(appID, "another secret", admin, time.Now(), time.Hour)
	assert.Contains(t, tpost("openim/sendmsg", other, ok), `"ErrorCode":70052`)
	old, _ := timchat.GenUserSig(appID, secret, admin, time.Now().Add(-2*time.Hour), time.Hour)
	assert.Contains(t, tpost("openim/sendmsg", old, ok), `"ErrorCode":70001`)
	assert.Contains(t, tpost("openim/sendmsg", sig, `{"To_Account":"a","MsgRandom":1,"MsgBody":[{"MsgType":"TimTextElem","MsgContent":{"Text":"hi"}}]}`), `"ErrorCode":90002`)
	assert.Contains(t, tpost("openim/sendmsg", sig, `{"To_Account":"a","MsgRandom":1,"MsgBody":[{"MsgType":"TIMImageElem","MsgContent":{"UUID":"u","ImageInfoArray":[{"Type":1,"Url":"https://x/y.png","Width":1,"Height":1}]}}]}`), `"ErrorCode":90010`)
	assert.Contains(t, tpost("openim/sendmsg", sig, `{"To_Account":"a","MsgRandom":1,"MsgBody":[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"1"}},{"MsgType":"TIMCustomElem","MsgContent":{"Data":"2"}}]}`), `"ErrorCode":90010`)
	assert.Contains(t, tpost("openim/sendmsg", sig, `{"To_Account":"a","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`), `"ErrorCode":90005`)
	assert.Contains(t, tpost("group_open_http_svc/send_group_msg", sig, `{"GroupId":"g","Random":5,"MsgBody":{"MsgType":"TIMTextElem"}}`), `"ErrorCode":90007`)
}

func TestWeComRateAndMediaExpiry(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	wc := imtest.NewWeCom(imtest.WithWeComRate(3), imtest.WithWeComClock(clock))
	defer wc.Close()
	w, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(0))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: "wecom", Backend: w}))
	for i := range 3 {
		_, err := mc.Push(bg, "wecom", "room", "", "", strings.Repeat("x", i+1))
		require.NoError(t, err)
	}
	_, err = mc.Push(bg, "wecom", "room", "", "", "over the limit")
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	_, err = mc.Push(bg, "wecom", "other-room", "", "", "another chat has its own window")
	require.NoError(t, err)

	// The client caches the media_id; the emulator ages it out after three
	// days (its clock runs ahead of the client's here), the send answers
	// 40007, and the client uploads again once.
	src := "base64://" + base64.StdEncoding.EncodeToString([]byte("weekly report"))
	_, err = mc.PushFile(bg, "wecom", "files", "", "", src)
	require.NoError(t, err)
	assert.Equal(t, 1, wc.Uploads())
	mu.Lock()
	now = now.Add(73 * time.Hour)
	mu.Unlock()
	_, err = mc.PushFile(bg, "wecom", "files", "", "", src)
	require.NoError(t, err)
	assert.Equal(t, 2, wc.Uploads())
	msgs := wc.Messages()
	assert.Equal(t, []byte("weekly report"), msgs[len(msgs)-1].File)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	rec := imtest.NewRecorder()
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "r", IM: "qq", Backend: rec}))
	_, err := mc.PushMixed(bg, "qq", "g1|g2", "", "T", []middleware.Item{
		{Type: middleware.TextItem, Text: "see:"},
		{Type: middleware.FileItem, Source: "base64://" + base64.StdEncoding.EncodeToString([]byte("a,b\n")), Name: "r.csv"},
	})
	require.NoError(t, err)
	last, ok := rec.Last()
	require.True(t, ok)
	assert.Equal(t, []string{"see:"}, last.Texts())
	assert.Equal(t, []byte("a,b\n"), last.Media[1])
	assert.Equal(t, "r.csv", last.Names[1])
	assert.Equal(t, "text/csv", last.MIMEs[1])
	boom := errors.New("boom")
	rec.FailNext(boom)
	_, err = mc.Push(bg, "qq", "g", "", "", "x")
	require.ErrorIs(t, err, boom)
	assert.Len(t, rec.Messages(), 1)
}
