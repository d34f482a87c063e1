package timchat

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
)

func testPNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func TestUserSigVectors(t *testing.T) {
	t.Parallel()
	vectors := []struct {
		id      string
		appID   uint64
		time    int64
		expire  int64
		wantSig string
	}{
		{"xiaojun", 1400000000, 1700000000, 15552000, "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="},
		{"administrator", 1400000000, 1700000000, 86400, "yLAe+w7WUeUuqbV9h/TX78u21oTGi+i9Zp1u3PpnY60="},
		{"admin", 1400000001, 1600000000, 3600, "qMw1pje1i4s5GS++l0EkCgUHJ7PhufrnAtvKOa3JJS8="},
	}
	for _, v := range vectors {
		assert.Equal(t, v.wantSig, sigHMAC(testSecret, v.appID, v.id, v.time, v.expire), v.id)
		sig, err := GenUserSig(v.appID, testSecret, v.id, time.Unix(v.time, 0), time.Duration(v.expire)*time.Second)
		require.NoError(t, err)
		assert.NotContains(t, sig, "+")
		assert.NotContains(t, sig, "/")
		assert.NotContains(t, sig, "=")
		// Compare the decompressed JSON, never the compressed string.
		info, mac, err := DecodeUserSig(sig)
		require.NoError(t, err)
		assert.Equal(t, v.wantSig, mac)
		assert.Equal(t, UserSigInfo{Identifier: v.id, SDKAppID: v.appID, Time: time.Unix(v.time, 0), Expire: time.Duration(v.expire) * time.Second}, info)
		_, err = VerifyUserSig(sig, v.appID, testSecret, v.id, time.Unix(v.time+v.expire, 0))
		require.NoError(t, err, "valid while now <= time + expire")
		_, err = VerifyUserSig(sig, v.appID, testSecret, v.id, time.Unix(v.time+v.expire+1, 0))
		require.ErrorIs(t, err, ErrSigExpired)
		_, err = VerifyUserSig(sig, v.appID, "another key", v.id, time.Unix(v.time, 0))
		require.ErrorIs(t, err, ErrSigMismatch)
		_, err = VerifyUserSig(sig, v.appID, testSecret, "someone-else", time.Unix(v.time, 0))
		require.ErrorIs(t, err, ErrSigMismatch)
	}
	_, _, err := DecodeUserSig("not*a-sig")
	require.ErrorIs(t, err, ErrSigMalformed)
}

func TestSignerCacheConcurrent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := fixedNow
	s := &signer{appID: testAppID, secret: testSecret, admin: "administrator", ttl: time.Hour,
		now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	var wg sync.WaitGroup
	sigs := make([]string, 64)
	cached := make([]*cachedSig, 64)
	for i := range sigs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				sig, err := s.get("")
				assert.NoError(t, err)
				sigs[i], cached[i] = sig, s.cur.Load()
			}
		}()
	}
	wg.Wait()
	first := s.cur.Load()
	for i, sig := range sigs {
		assert.Equal(t, sigs[0], sig)
		// Every signing stores a new cachedSig: one pointer, one signing.
		assert.Same(t, first, cached[i], "signed once for 6400 requests")
	}
	mu.Lock()
	now = now.Add(55 * time.Minute) // inside the last tenth of an hour
	mu.Unlock()
	fresh, err := s.get("")
	require.NoError(t, err)
	assert.NotEqual(t, sigs[0], fresh, "renewed ahead of expiry")
	assert.NotSame(t, first, s.cur.Load())
	assert.Equal(t, sigs[0], s.cur.Load().prev, "the one it replaced is kept, to be masked in errors")
	_, err = VerifyUserSig(fresh, testAppID, testSecret, "administrator", now.Add(time.Hour-time.Second))
	require.NoError(t, err)
}

func mediaResponders(t *testing.T, m *mockTIM) (pngData []byte) {
	pngData = testPNG(t, 40, 30)
	m.mt.RegisterResponder("GET", "https://media.example/chart.png", func(*http.Request) (*http.Response, error) {
		r := httpmock.NewBytesResponse(200, pngData)
		r.ContentLength = int64(len(pngData))
		return r, nil
	})
	for _, f := range []struct{ path, body string }{{"/notice.amr", "#!AMR\nvoice-data"}, {"/demo.mp4", "\x00\x00\x00\x18ftypmp42 video"}, {"/daily.csv", "a,b\n1,2\n"}} {
		body := f.body
		m.mt.RegisterResponder("GET", "https://media.example"+f.path, func(*http.Request) (*http.Response, error) {
			r := httpmock.NewStringResponse(200, body)
			r.ContentLength = int64(len(body))
			return r, nil
		})
	}
	return pngData
}

func TestGoldenAPIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		api  string
		push func(mc *middleware.Client) (int, error)
		n    int
	}{
		{"sendmsg_text.json", "openim/sendmsg", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "xiaoming", "Daily report", "hi, beauty", CloudCustomData("x"), MsgLifeTime(time.Hour))
		}, 1},
		{"send_group_msg_at.json", "group_open_http_svc/send_group_msg", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "@TGS#group", "zhangsan", "", "build green", OnlineOnly(), FromAccount("ci-bot"))
		}, 1},
		{"batchsendmsg.json", "openim/batchsendmsg", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "u1|u2|u3", "", "hello all", middleware.WithField("SyncOtherMachine", 2))
		}, 3},
		{"timpush_tags.json", "timpush/push", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "", "Promo", "hi, beauty", Broadcast(&Condition{TagsOr: []string{"Stock A", "Stock B"}}))
		}, 1},
		{"image_elem.json", "openim/sendmsg", func(mc *middleware.Client) (int, error) {
			return mc.PushImage(bg, "tim", "", "xiaoming", "Chart", "https://media.example/chart.png")
		}, 1},
		{"sound_elem.json", "openim/sendmsg", func(mc *middleware.Client) (int, error) {
			return mc.PushVoice(bg, "tim", "", "xiaoming", "", "https://media.example/notice.amr", VoiceSeconds(3))
		}, 1},
		{"file_elem.json", "openim/sendmsg", func(mc *middleware.Client) (int, error) {
			return mc.PushFile(bg, "tim", "", "xiaoming", "", "https://media.example/daily.csv", middleware.WithFilename("日报.csv"))
		}, 1},
		{"video_elem.json", "openim/sendmsg", func(mc *middleware.Client) (int, error) {
			return mc.PushVideo(bg, "tim", "", "xiaoming", "Demo", "https://media.example/demo.mp4", Thumbnail("https://media.example/chart.png"), VideoSeconds(12))
		}, 1},
		{"mixed_caption_cover.json", "openim/sendmsg", func(mc *middleware.Client) (int, error) {
			return mc.PushMixed(bg, "tim", "", "xiaoming", "Demo", []middleware.Item{
				{Type: middleware.ImageItem, Source: "https://media.example/chart.png", Caption: "Load, last 24 h"},
				{Type: middleware.VideoItem, Source: "https://media.example/demo.mp4", Cover: "https://media.example/chart.png", Caption: "the demo"},
			})
		}, 1},
		{"mixed_one_message.json", "group_open_http_svc/send_group_msg", func(mc *middleware.Client) (int, error) {
			return mc.PushMixed(bg, "tim", "@TGS#group", "", "Result", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: "https://media.example/chart.png"},
				{Type: middleware.MarkdownItem, Text: "**done**"},
			})
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMock(t)
			mediaResponders(t, m)
			c, _ := newBackend(t, m)
			mc, err := middleware.NewClient(middleware.WithHTTPClient(&http.Client{Transport: m.mt}),
				middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Backend: c}))
			require.NoError(t, err)
			n, err := tt.push(mc)
			require.NoError(t, err)
			assert.Equal(t, tt.n, n)
			reqs := m.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, tt.api, r.API)
			assert.Equal(t, "json", r.Query.Get("contenttype"))
			assert.Equal(t, fmt.Sprint(testAppID), r.Query.Get("sdkappid"))
			assert.Equal(t, "administrator", r.Query.Get("identifier"))
			_, err = VerifyUserSig(r.Query.Get("usersig"), testAppID, testSecret, "administrator", fixedNow)
			require.NoError(t, err)
			golden(t, tt.name, r.Body)
		})
	}
}

func TestImageProbeReadsLittle(t *testing.T) {
	t.Parallel()
	// A 3 MB image behind a URL: only its header is read to find the size.
	big := testPNG(t, 1200, 900)
	big = append(big, make([]byte, 3<<20)...) // trailing bytes a decoder ignores
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		// Slowly, so the kernel's socket buffers do not swallow it all
		// before the client hangs up.
		for off := 0; off < len(big); off += 32 << 10 {
			n, err := w.Write(big[off:min(off+32<<10, len(big))])
			served.Add(int64(n))
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	m := newMock(t)
	_, mc := newBackend(t, m)
	_, err := mc.PushImage(bg, "tim", "", "u", "", srv.URL+"/big.png")
	require.NoError(t, err)
	info := m.typed(t)[0].image(t, 0).ImageInfoArray[0]
	assert.Equal(t, 1200, info.Width)
	assert.Equal(t, 900, info.Height)
	assert.Equal(t, int64(len(big)), info.Size)
	time.Sleep(20 * time.Millisecond) // let the server notice the hang-up
	assert.Less(t, served.Load(), int64(len(big)/2), "the rest of the image was not downloaded")
}

func TestRetryReusesDedupKeys(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	m.answer("openim/sendmsg", `{"ActionStatus":"FAIL","ErrorCode":91000,"ErrorInfo":"internal"}`, `{"ActionStatus":"FAIL","ErrorCode":60008,"ErrorInfo":"busy"}`)
	n, err := mc.Push(bg, "tim", "", "u1", "", "once")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	reqs := m.requests()
	require.Len(t, reqs, 3)
	randoms := map[string]bool{}
	for _, r := range reqs {
		assert.Equal(t, string(reqs[0].Body), string(r.Body), "the same MsgRandom and MsgSeq on every retry")
		randoms[r.Query.Get("random")] = true
	}
	assert.Len(t, randoms, 3, "a fresh query random per request")

	// Group messages reuse Random.
	m.answer("group_open_http_svc/send_group_msg", `{"ActionStatus":"FAIL","ErrorCode":10002,"ErrorInfo":"busy"}`)
	_, err = mc.Push(bg, "tim", "g1", "", "", "once")
	require.NoError(t, err)
	reqs = m.requests()[3:]
	require.Len(t, reqs, 2)
	assert.Equal(t, string(reqs[0].Body), string(reqs[1].Body))
}

func TestSignatureRenewedOnce(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	var mu sync.Mutex
	now := fixedNow
	c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator"},
		WithHTTPClient(&http.Client{Transport: m.mt}), WithRetry(3, 0),
		WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now }))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Backend: c}))
	m.answer("openim/sendmsg", `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"usersig expired"}`)
	_, err = mc.Push(bg, "tim", "", "u1", "", "x")
	require.NoError(t, err)
	reqs := m.requests()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, reqs[0].Query.Get("usersig"), reqs[1].Query.Get("usersig"), "renewed after 70001")

	// Refused twice: renewed once, then the error.
	m.answer("openim/sendmsg", `{"ActionStatus":"FAIL","ErrorCode":70052,"ErrorInfo":"bad sig"}`, `{"ActionStatus":"FAIL","ErrorCode":70052,"ErrorInfo":"bad sig"}`)
	_, err = mc.Push(bg, "tim", "", "u1", "", "y")
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 70052, api.Code)
	assert.Len(t, m.requests(), 4)
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code  int
		want  error
		calls int
	}{
		{90047, middleware.ErrRateLimited, 1},
		{60011, middleware.ErrRateLimited, 3}, // transient: retried, then reported
		{20003, middleware.ErrInvalidTarget, 1},
		{10010, middleware.ErrInvalidTarget, 1},
		{80002, middleware.ErrTooLarge, 1},
		{93000, middleware.ErrTooLarge, 1},
		{80001, nil, 1},
		{70016, middleware.ErrUnauthorized, 1},
		{70009, middleware.ErrUnauthorized, 1},
		{70013, middleware.ErrUnauthorized, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			t.Parallel()
			m := newMock(t)
			_, mc := newBackend(t, m)
			for range 3 {
				m.answer("openim/sendmsg", fmt.Sprintf(`{"ActionStatus":"FAIL","ErrorCode":%d,"ErrorInfo":"info %d secret=%s"}`, tt.code, tt.code, testSecret))
			}
			n, err := mc.Push(bg, "tim", "", "u1", "", "x")
			assert.Zero(t, n)
			var api *middleware.APIError
			require.ErrorAs(t, err, &api)
			assert.Equal(t, tt.code, api.Code)
			assert.Equal(t, fmt.Sprintf("info %d secret=REDACTED", tt.code), api.Message)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			}
			if tt.code == 70016 {
				assert.Contains(t, err.Error(), "Region")
			}
			assert.Equal(t, tt.calls, m.mt.GetTotalCallCount())
		})
	}
}

func TestBatchErrorList(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	users := make([]string, 501)
	for i := range users {
		users[i] = fmt.Sprint("user", i)
	}
	m.answer("openim/batchsendmsg",
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgKey":"k","ErrorList":[{"To_Account":"user7","ErrorCode":20003},{"To_Account":"user9","ErrorCode":0}]}`)
	n, err := mc.Push(bg, "tim", "", strings.Join(users, "|"), "", "hi")
	assert.Equal(t, 500, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []middleware.TargetFailure{{ID: "user7", Code: 20003}}, pe.FailedTargets)
	require.ErrorIs(t, err, middleware.ErrInvalidTarget)
	reqs := m.bodies(t)
	require.Len(t, reqs, 2, "500 per call")
	assert.Len(t, reqs[0]["To_Account"], 500)
	assert.Equal(t, []any{"user500"}, reqs[1]["To_Account"])
}

func TestGroupFanOutPartial(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	m.answer("group_open_http_svc/send_group_msg", `{"ActionStatus":"OK","ErrorCode":0}`, `{"ActionStatus":"FAIL","ErrorCode":10010,"ErrorInfo":"group gone"}`)
	n, err := mc.Push(bg, "tim", "g1|g2|g3", "", "", "hi")
	assert.Equal(t, 2, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []middleware.TargetFailure{{ID: "g2", Code: 10010}}, pe.FailedTargets)
}

func TestValidateBeforeIO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		push func(mc *middleware.Client) (int, error)
		want error
	}{
		{"no target", func(mc *middleware.Client) (int, error) { return mc.Push(bg, "tim", "", "", "", "x") }, middleware.ErrInvalidTarget},
		{"broadcast with a target", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "g", "", "", "x", Broadcast(nil))
		}, middleware.ErrInvalidTarget},
		{"two condition kinds", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "", "", "x", Broadcast(&Condition{TagsOr: []string{"a"}, AttrsAnd: map[string]string{"k": "v"}}))
		}, middleware.ErrInvalidTarget},
		{"11 tags", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "", "", "x", Broadcast(&Condition{TagsAnd: strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}))
		}, middleware.ErrInvalidTarget},
		{"long tag", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "", "", "x", Broadcast(&Condition{TagsOr: []string{strings.Repeat("t", 51)}}))
		}, middleware.ErrInvalidTarget},
		{"duplicate tag", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "", "", "x", Broadcast(&Condition{TagsOr: []string{"a", "a"}}))
		}, middleware.ErrInvalidTarget},
		{"local media without uploader", func(mc *middleware.Client) (int, error) {
			return mc.PushImage(bg, "tim", "", "u", "", "base64://"+base64.StdEncoding.EncodeToString(testPNG(t, 2, 2)))
		}, middleware.ErrUnsupported},
		{"video without thumbnail", func(mc *middleware.Client) (int, error) {
			return mc.PushVideo(bg, "tim", "", "u", "", "https://media.example/demo.mp4")
		}, middleware.ErrInvalidItem},
		{"text over 12 KB", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "tim", "", "u", "", strings.Repeat("x", BodyLimit+1))
		}, middleware.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMock(t)
			_, mc := newBackend(t, m)
			n, err := tt.push(mc)
			require.ErrorIs(t, err, tt.want)
			assert.Zero(t, n)
			assert.Zero(t, m.mt.GetTotalCallCount())
		})
	}
	m := newMock(t)
	_, mc := newBackend(t, m)
	local := t.TempDir() + "/chart.png"
	require.NoError(t, os.WriteFile(local, testPNG(t, 2, 2), 0o600))
	_, err := mc.PushImage(bg, "tim", "", "u", "", local)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithUploader", "the error names the fix")
}

func TestPresignedPutUploader(t *testing.T) {
	t.Parallel()
	var got struct {
		sync.Mutex
		method, ct, path string
		length           int64
		body             []byte
		acl              string
	}
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		defer got.Unlock()
		got.method, got.ct, got.path, got.length, got.acl = r.Method, r.Header.Get("Content-Type"), r.URL.Path, r.ContentLength, r.Header.Get("x-cos-acl")
		got.body, _ = io.ReadAll(r.Body)
	}))
	t.Cleanup(store.Close)
	up := NewPresignedPutUploader(func(_ context.Context, meta UploadMeta) (string, string, error) {
		key := meta.MD5 + "/" + meta.Name
		return store.URL + "/" + key + "?sign=SECRET-SIGNATURE", "https://cdn.example/" + key, nil
	}, nil)
	up.Header = http.Header{"X-Cos-Acl": {"public-read"}}
	m := newMock(t)
	_, mc := newBackend(t, m, WithUploader(up))
	data := testPNG(t, 8, 6)
	sum := md5.Sum(data)
	_, err := mc.PushImage(bg, "tim", "", "u", "", "base64://"+base64.StdEncoding.EncodeToString(data), middleware.WithFilename("c.png"))
	require.NoError(t, err)
	got.Lock()
	assert.Equal(t, http.MethodPut, got.method)
	assert.Equal(t, "image/png", got.ct)
	assert.Equal(t, int64(len(data)), got.length)
	assert.Equal(t, data, got.body)
	assert.Equal(t, "public-read", got.acl)
	assert.Equal(t, "/"+hex.EncodeToString(sum[:])+"/c.png", got.path)
	got.Unlock()
	elem := m.typed(t)[0].image(t, 0)
	assert.Equal(t, hex.EncodeToString(sum[:]), elem.UUID)
	assert.Equal(t, "https://cdn.example/"+hex.EncodeToString(sum[:])+"/c.png", elem.ImageInfoArray[0].URL)

	// A failing store: the presigned signature stays out of the error.
	bad := NewPresignedPutUploader(func(context.Context, UploadMeta) (string, string, error) {
		return "http://127.0.0.1:1/x?sign=SECRET-SIGNATURE", "https://cdn.example/x", nil
	}, nil)
	_, mc = newBackend(t, newMock(t), WithUploader(bad))
	_, err = mc.PushFile(bg, "tim", "", "u", "", "base64://"+base64.StdEncoding.EncodeToString([]byte("hello file")))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET-SIGNATURE")
}

func TestBroadcastSpacing(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator"}, WithHTTPClient(&http.Client{Transport: m.mt}))
	require.NoError(t, err)
	mc, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Backend: c}))
	_, err = mc.Push(bg, "tim", "", "", "", "one", Broadcast(nil))
	require.NoError(t, err)
	_, err = mc.Push(bg, "tim", "", "", "", "two", Broadcast(nil), middleware.WithTimeout(300*time.Millisecond))
	require.ErrorIs(t, err, middleware.ErrRateLimited, "the gap does not fit the deadline: refused without sending")
	assert.Equal(t, 1, m.mt.GetTotalCallCount())
	// With room in the deadline it waits for the gap and sends. (The TIM
	// emulator, which refuses pushes a second apart, checks the gap in
	// imtest's TestTIMDedupAndSpacing.)
	_, err = mc.Push(bg, "tim", "", "", "", "three", Broadcast(nil))
	require.NoError(t, err)
	assert.Equal(t, 2, m.mt.GetTotalCallCount())
	pushes := m.bodies(t)
	assert.NotContains(t, pushes[0], "Condition", "no condition: everyone")
}

func TestConfig(t *testing.T) {
	t.Parallel()
	good := Config{SDKAppID: 1, SecretKey: "s", Admin: "a"}
	for _, bad := range []Config{
		{SecretKey: "s", Admin: "a"},
		{SDKAppID: 1, SecretKey: "s"},
		{SDKAppID: 1, Admin: "a"},
		{SDKAppID: 1, SecretKey: "s", Admin: "a", UserSig: "x"},
		{SDKAppID: 1, SecretKey: "s", Admin: "a", Region: "mars"},
		{SDKAppID: 1, SecretKey: "s", Admin: "a", Region: "china", BaseURL: "http://x"},
		{SDKAppID: 1, SecretKey: "s", Admin: "a", BaseURL: "ftp://x"},
		{SDKAppID: 1, UserSig: "garbage", Admin: "a"},
	} {
		_, err := New(bad)
		require.Error(t, err, "%v", bad)
		assert.NotContains(t, err.Error(), "garbage")
	}
	for region, host := range regionHosts {
		cfg := good
		cfg.Region = region
		c, err := New(cfg)
		require.NoError(t, err)
		assert.Equal(t, "https://"+host, c.base)
	}
	c, err := New(good)
	require.NoError(t, err)
	assert.Equal(t, "https://console.tim.qq.com", c.base, "china by default")
	sig, _ := GenUserSig(1, "s", "a", fixedNow, time.Hour)
	_, err = New(Config{SDKAppID: 1, UserSig: sig, Admin: "a"})
	require.NoError(t, err, "a static usersig replaces the secret key")
}

// TestSecretsNeverLeak drives the error paths and checks errors, logs and
// formatting for the secret key and usersigs.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	var out []string
	record := func(_ int, err error) {
		if err != nil {
			out = append(out, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	mk := func(rt http.RoundTripper) (*Client, *middleware.Client) {
		c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator"}, WithHTTPClient(&http.Client{Transport: rt}), WithRetry(2, 0))
		require.NoError(t, err)
		mc, _ := middleware.NewClient(middleware.WithLogger(logger), middleware.WithAccount(middleware.Account{ID: "t", IM: "tim", Backend: c}))
		out = append(out, fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %#v", c.cfg, c.cfg))
		logger.Info("backend", "client", c, "config", c.cfg)
		return c, mc
	}
	// Transport errors.
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(httpmock.NewErrorResponder(fmt.Errorf("boom")))
	_, mc := mk(mt)
	record(mc.Push(bg, "tim", "", "u", "", "x"))
	// A real dropped connection, whose *url.Error carries the signed URL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}))
	defer srv.Close()
	c, err := New(Config{SDKAppID: testAppID, SecretKey: testSecret, Admin: "administrator", BaseURL: srv.URL}, WithRetry(2, 0))
	require.NoError(t, err)
	mc2, _ := middleware.NewClient(middleware.WithLogger(logger), middleware.WithAccount(middleware.Account{ID: "t", IM: "tim", Backend: c}))
	record(mc2.Push(bg, "tim", "g", "", "", "x"))
	sigs := []string{}
	if cur := c.sig.cur.Load(); cur != nil {
		sigs = append(sigs, cur.sig)
	}
	// Every error class, malformed bodies, the platform echoing the sig.
	for _, body := range []string{`{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"expired"}`, `{"ActionStatus":"FAIL","ErrorCode":91000}`,
		`{"ActionStatus":"FAIL","ErrorCode":20003}`, `{`, ``, `<html>`} {
		m := newMock(t)
		for range 4 {
			m.answer("openim/sendmsg", body)
		}
		cc, mc := mk(m.mt)
		record(mc.Push(bg, "tim", "", "u", "", "x"))
		for _, r := range m.requests() {
			sigs = append(sigs, r.Query.Get("usersig"))
		}
		if cur := cc.sig.cur.Load(); cur != nil {
			sigs = append(sigs, cur.sig)
		}
	}
	m := newMock(t)
	cc, mc := mk(m.mt)
	_, _ = mc.Push(bg, "tim", "", "u", "", "x")
	echo := `{"ActionStatus":"FAIL","ErrorCode":80001,"ErrorInfo":"bad request usersig=` + cc.sig.cur.Load().sig + `"}`
	m.answer("openim/sendmsg", echo)
	record(mc.Push(bg, "tim", "", "u", "", "x"))
	sigs = append(sigs, cc.sig.cur.Load().sig)

	all := strings.Join(out, "\n") + logs.String()
	assert.NotContains(t, all, testSecret)
	require.NotEmpty(t, sigs)
	for _, s := range sigs {
		require.NotEmpty(t, s)
		assert.NotContains(t, all, s)
	}
	assert.Contains(t, all, "REDACTED")
}

// TestElementKeys checks the key spellings TIM wants, which differ by
// element (the emulator decodes them back: imtest's TestDecodeElements).
func TestElementKeys(t *testing.T) {
	t.Parallel()
	in := []Element{
		{MsgType: TypeText, MsgContent: &TextElem{Text: "t"}},
		{MsgType: TypeImage, MsgContent: &ImageElem{UUID: "u", ImageFormat: ImagePNG, ImageInfoArray: []ImageInfo{{Type: 1, URL: "x"}}}},
		{MsgType: TypeSound, MsgContent: &SoundElem{URL: "s", UUID: "u", DownloadFlag: 2}},
		{MsgType: TypeFile, MsgContent: &FileElem{URL: "f", UUID: "u", FileName: "n", DownloadFlag: 2}},
		{MsgType: TypeVideo, MsgContent: &VideoElem{VideoURL: "v", ThumbURL: "th", VideoFormat: "mp4", ThumbFormat: "JPG"}},
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	for _, key := range []string{`"Url":"s"`, `"URL":"x"`, `"VideoUrl":"v"`, `"ThumbUrl":"th"`, `"Download_Flag":2`} {
		assert.Contains(t, string(b), key)
	}
}

func TestSplitMixed(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	mediaResponders(t, m)
	c, _ := newBackend(t, m)
	mc, _ := middleware.NewClient(middleware.WithHTTPClient(&http.Client{Transport: m.mt}),
		middleware.WithAccount(middleware.Account{ID: "tim", IM: "tim", Backend: c}))
	items := []middleware.Item{
		{Type: middleware.TextItem, Text: "chart:"},
		{Type: middleware.ImageItem, Source: "https://media.example/chart.png"},
		{Type: middleware.FileItem, Source: "https://media.example/daily.csv"},
		{Type: middleware.TextItem, Text: "end"},
	}
	m.answer("openim/sendmsg", `{"ActionStatus":"OK","ErrorCode":0}`, `{"ActionStatus":"FAIL","ErrorCode":80001,"ErrorInfo":"dirty words"}`)
	n, err := mc.PushMixed(bg, "tim", "", "u1", "", items, SplitMixed())
	assert.Equal(t, 1, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, []int{0, 1}, pe.DeliveredItems)
	assert.Equal(t, 2, pe.FailedItem)
	var types [][]string
	for _, b := range m.typed(t) {
		var ts []string
		for _, e := range b.MsgBody {
			ts = append(ts, e.MsgType)
		}
		types = append(types, ts)
	}
	assert.Equal(t, [][]string{{TypeText, TypeImage}, {TypeFile}}, types, "one message per media item, text kept before its media")
}
