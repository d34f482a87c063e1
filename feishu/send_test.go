package feishu

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/testkit"
)

func TestSignVectors(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "jquNHnVOwmDRfw+vqTIrY5dooJAgi5EcRtLsQE4wfXg=", Sign(100, "demo"))
	assert.Equal(t, "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=", Sign(1599360473, "demo"))
	assert.Equal(t, "LsidayIxXyr1lhES1Oa7HdIcFg8EVYzbhO1RzU8DOMk=", Sign(1700000000, "q8Z2fKx7TnV3rW1s"))
	assert.NotEqual(t, "Al3fIG80paFjFaF1GYFq01nD+HwK+W12x7pPHOz3pJo=", Sign(100, "demo"), "DingTalk's algorithm must not be used")

	// The signature travels in the body, the timestamp as a string.
	m := newMock()
	_, c := newBackend(t, m, WithSecret(testSecret), WithClock(func() time.Time { return time.Unix(1700000000, 0) }))
	_, err := c.Push(bg, IM, "", "", "", "hi")
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(m.requests()[0].Body, &body))
	assert.Equal(t, "1700000000", body["timestamp"])
	assert.Equal(t, "LsidayIxXyr1lhES1Oa7HdIcFg8EVYzbhO1RzU8DOMk=", body["sign"])
	assert.Empty(t, m.requests()[0].Query, "nothing in the URL")
}

func pngBytes(t *testing.T, w int) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, 4))))
	return buf.Bytes()
}

// Each message type against golden bodies from the reference; the
// emulator, which checks the same shapes, takes each.
func TestGoldenBodies(t *testing.T) {
	t.Parallel()
	card := json.RawMessage(`{"config":{"wide_screen_mode":true},"header":{"title":{"tag":"plain_text","content":"Deploy"}},"elements":[{"tag":"div","text":{"tag":"lark_md","content":"**v1.4.2** is live"}}]}`)
	img := "data:image/png;base64," + b64(pngBytes(t, 8))
	for _, tt := range []struct {
		name   string
		push   func(c *middleware.Client) (int, error)
		golden bool // image keys differ between runs: compared by shape only
	}{
		{"text.json", func(c *middleware.Client) (int, error) { return c.Push(bg, IM, "", "", "", "Deploy v1.4.2 is live") }, true},
		{"text_mentions.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "ou_1a2b", "", "Disk full on db-1", MentionAll())
		}, true},
		{"post.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Weekly", "Deploys: 3\n\nIncidents: 0", Post(), Mention("ou_9z"))
		}, true},
		{"post_en.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Weekly", "Deploys: 3", Post(), Language("en_us"))
		}, true},
		{"markdown_card.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Build", "**green** in 4m", Markdown(), Mention("ou_1"))
		}, true},
		{"interactive.json", func(c *middleware.Client) (int, error) { return c.Push(bg, IM, "", "", "Deploy card", "", Card(card)) }, true},
		{"share_chat.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Join", "", ShareChat("oc_f5b1a7eb27ae2c7b6adc2a74faf339ff"))
		}, true},
		{"image", func(c *middleware.Client) (int, error) { return c.PushImage(bg, IM, "", "", "Chart", img) }, false},
		{"mixed", func(c *middleware.Client) (int, error) {
			return c.PushMixed(bg, IM, "", "", "Report", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: img, Caption: "today"},
			})
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.golden {
				m := newMock()
				_, c := newBackend(t, m)
				n, err := tt.push(c)
				require.NoError(t, err)
				assert.Equal(t, 1, n)
				require.Len(t, m.requests(), 1)
				testkit.GoldenJSON(t, tt.name, m.requests()[0].Body, *update)
			}
			emu := imtest.NewFeishu()
			defer emu.Close()
			b, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithApp(emu.AppID, emu.AppSecret))
			require.NoError(t, err)
			_, err = tt.push(clientOf(t, b))
			require.NoError(t, err, "the emulator takes it")
			require.Len(t, emu.Messages(), 1)
		})
	}
}

func b64(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

func TestWhatArrives(t *testing.T) {
	t.Parallel()
	emu := imtest.NewFeishu()
	defer emu.Close()
	b, err := New(emu.WebhookURL(), WithBaseURL(emu.URL), WithSecret(emu.Secret), WithApp(emu.AppID, emu.AppSecret))
	require.NoError(t, err)
	c := clientOf(t, b)
	pic := pngBytes(t, 16)
	src := "data:image/png;base64," + b64(pic)
	_, err = c.Push(bg, IM, "", "ou_a|ou_b", "", "look")
	require.NoError(t, err)
	_, err = c.PushMixed(bg, IM, "", "ou_c", "Report", []middleware.Item{
		{Type: middleware.TextItem, Text: "line one\nline two"},
		{Type: middleware.ImageItem, Source: src, Caption: "the chart"},
	})
	require.NoError(t, err)
	_, err = c.PushImage(bg, IM, "", "", "", src)
	require.NoError(t, err)
	msgs := emu.Messages()
	require.Len(t, msgs, 3)
	assert.Equal(t, []string{"ou_a", "ou_b"}, msgs[0].Mentions)
	assert.Equal(t, "post", msgs[1].Type)
	assert.Equal(t, "Report", msgs[1].Title)
	assert.Equal(t, "line one\nline two\n[image]\nthe chart\n@ou_c", msgs[1].Text)
	assert.Equal(t, [][]byte{pic}, msgs[1].Images)
	assert.Equal(t, "image", msgs[2].Type)
	assert.Equal(t, 1, emu.Uploads(), "the same bytes are uploaded once")
	assert.Equal(t, 1, emu.TokenRequests(), "the token is cached")
}

func TestTokenRenewedAheadOfExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	emu := imtest.NewFeishu(imtest.WithFeishuTokenTTL(20*time.Minute), imtest.WithFeishuClock(clock))
	defer emu.Close()
	b, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithApp(emu.AppID, emu.AppSecret), WithClock(clock))
	require.NoError(t, err)
	c := clientOf(t, b)
	for i := range 3 {
		_, err = c.PushImage(bg, IM, "", "", "", "data:image/png;base64,"+b64(pngBytes(t, 4+i)))
		require.NoError(t, err)
		now = now.Add(6 * time.Minute) // the token has 20 minutes; renewed with 10 left
	}
	assert.Equal(t, 2, emu.TokenRequests())
	assert.Equal(t, 3, emu.Uploads())
}

func TestRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	m := newMock()
	_, c := newBackend(t, m)
	long := strings.Repeat("x", BodyLimit)
	for _, tt := range []struct {
		name string
		push func() (int, error)
		want error
	}{
		{"group", func() (int, error) { return c.Push(bg, IM, "oc_1", "", "", "hi") }, middleware.ErrInvalidTarget},
		{"image without app", func() (int, error) { return c.PushImage(bg, IM, "", "", "", "https://example.com/a.png") }, middleware.ErrUnsupported},
		{"file", func() (int, error) { return c.PushFile(bg, IM, "", "", "", "https://example.com/a.csv") }, middleware.ErrUnsupported},
		{"voice", func() (int, error) { return c.PushVoice(bg, IM, "", "", "", "https://example.com/a.amr") }, middleware.ErrUnsupported},
		{"two kinds", func() (int, error) { return c.Push(bg, IM, "", "", "", "t", Post(), Markdown()) }, middleware.ErrInvalidOption},
		{"card with content", func() (int, error) { return c.Push(bg, IM, "", "", "T", "lost?", Card(json.RawMessage(`{}`))) }, middleware.ErrInvalidOption},
		{"card not an object", func() (int, error) { return c.Push(bg, IM, "", "", "T", "", Card(json.RawMessage(`[1]`))) }, middleware.ErrInvalidOption},
		{"share with mention", func() (int, error) { return c.Push(bg, IM, "", "ou_1", "T", "", ShareChat("oc_1")) }, middleware.ErrUnsupported},
		{"language on text", func() (int, error) { return c.Push(bg, IM, "", "", "", "t", Language("en_us")) }, middleware.ErrInvalidOption},
		{"markdown mixed", func() (int, error) {
			return c.PushMixed(bg, IM, "", "", "", []middleware.Item{{Type: middleware.TextItem, Text: "a"}, {Type: middleware.TextItem, Text: "b"}}, Markdown())
		}, middleware.ErrUnsupported},
		{"NoSplit", func() (int, error) { return c.Push(bg, IM, "", "", "", long, NoSplit()) }, middleware.ErrTooLarge},
		{"post NoSplit", func() (int, error) {
			return c.Push(bg, IM, "", "", "", strings.Repeat("line\n", 5000), Post(), NoSplit())
		}, middleware.ErrTooLarge},
	} {
		n, err := tt.push()
		assert.ErrorIs(t, err, tt.want, tt.name)
		assert.Zero(t, n, tt.name)
	}
	assert.Zero(t, m.mt.GetTotalCallCount(), "nothing was sent")
}

func TestLongTextsSplit(t *testing.T) {
	t.Parallel()
	emu := imtest.NewFeishu(imtest.WithFeishuRate(0, 0, time.Minute))
	defer emu.Close()
	b, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret(emu.Secret))
	require.NoError(t, err)
	c := clientOf(t, b)
	text := strings.Repeat("告警 \"db-1\" <disk> 95%\t\x02\n", 2000)
	_, err = c.Push(bg, IM, "", "", "", text)
	require.NoError(t, err)
	var got strings.Builder
	msgs := emu.Messages()
	require.Greater(t, len(msgs), 2)
	for _, m := range msgs {
		assert.LessOrEqual(t, len(m.Body), BodyLimit)
		got.WriteString(m.Text)
	}
	assert.Equal(t, text, got.String())

	lines := strings.Repeat("第一行 line of a post\n", 3000)
	_, err = c.Push(bg, IM, "", "ou_z", "Digest", lines, Post())
	require.NoError(t, err)
	posts := emu.Messages()[len(msgs):]
	require.Greater(t, len(posts), 1)
	var paras []string
	for i, m := range posts {
		assert.LessOrEqual(t, len(m.Body), BodyLimit)
		assert.Equal(t, "Digest", m.Title)
		if i < len(posts)-1 {
			assert.Empty(t, m.Mentions)
		}
		paras = append(paras, m.Text)
	}
	assert.Equal(t, []string{"ou_z"}, posts[len(posts)-1].Mentions)
	assert.Equal(t, lines+"\n@ou_z", strings.Join(paras, "\n"))
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code int
		want error
	}{
		{19001, middleware.ErrUnauthorized},
		{19021, middleware.ErrUnauthorized},
		{19022, middleware.ErrUnauthorized},
		{19024, middleware.ErrInvalidItem},
		{9499, middleware.ErrInvalidItem},
		{2200, middleware.ErrMaybeDelivered},
	} {
		m := newMock()
		_, c := newBackend(t, m)
		m.answer(`{"code":` + itoa(tt.code) + `,"msg":"hook ` + testHook + ` refused","data":{}}`)
		_, err := c.Push(bg, IM, "", "", "", "hi")
		assert.ErrorIs(t, err, tt.want, "code %d", tt.code)
		var api *middleware.APIError
		require.ErrorAs(t, err, &api)
		assert.Equal(t, tt.code, api.Code)
		assert.NotContains(t, err.Error(), testHook)
		assert.Equal(t, 1, m.mt.GetTotalCallCount(), "code %d: not retried", tt.code)
	}
	// 11232 is answered before posting and passes within a second: once.
	m := newMock()
	_, c := newBackend(t, m)
	m.answer(`{"code":11232,"msg":"frequency limited","data":{}}`)
	_, err := c.Push(bg, IM, "", "", "", "hi")
	require.NoError(t, err)
	assert.Equal(t, 2, m.mt.GetTotalCallCount())
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// 5 a second: 12 pushes against the emulator's windows, no 11232. The
// windows are the platform's own: a shortened "second" leaves the pacer's
// margin (a twentieth) a few milliseconds, less than a loaded machine's
// scheduling jitter, and the test failed now and then under go test ./...
func TestPacedUnderTheBudget(t *testing.T) {
	t.Parallel()
	window := time.Minute
	emu := imtest.NewFeishu(imtest.WithFeishuRate(100, 5, window))
	defer emu.Close()
	b, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithRateWindow(window))
	require.NoError(t, err)
	c := clientOf(t, b)
	for i := range 12 {
		_, err := c.Push(bg, IM, "", "", "", "n"+itoa(i))
		require.NoError(t, err)
	}
	assert.Len(t, emu.Messages(), 12)
	assert.Zero(t, emu.Answered(11232))
}

func TestNoRetryOfWhatMayHaveArrived(t *testing.T) {
	t.Parallel()
	emu := imtest.NewFeishu()
	defer emu.Close()
	b, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithRetry(3, 0))
	require.NoError(t, err)
	c := clientOf(t, b)
	emu.DropAfterRead(1)
	_, err = c.Push(bg, IM, "", "", "", "maybe")
	assert.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Equal(t, 1, emu.Requests())
	assert.Len(t, emu.Messages(), 1)

	wrong, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret("not-the-secret"))
	require.NoError(t, err)
	_, err = clientOf(t, wrong).Push(bg, IM, "", "", "", "hi")
	assert.ErrorIs(t, err, middleware.ErrUnauthorized)
	skewed, err := New(emu.HookID, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithClock(func() time.Time { return time.Now().Add(90 * time.Minute) }))
	require.NoError(t, err)
	_, err = clientOf(t, skewed).Push(bg, IM, "", "", "", "hi")
	assert.ErrorIs(t, err, middleware.ErrUnauthorized)
}

func TestNewParsesWebhookURLs(t *testing.T) {
	t.Parallel()
	c, err := New("https://open.larksuite.com/open-apis/bot/v2/hook/" + testHook)
	require.NoError(t, err)
	assert.Equal(t, LarkBaseURL, c.base)
	c, err = New(testHook)
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, c.base)
	for _, in := range []string{"", "short", "open.feishu.cn/open-apis/bot/v2/hook/" + testHook, "http://open.feishu.cn/open-apis/bot/v2/hook/" + testHook,
		"https://open.feishu.cn/open-apis/bot/v2/other/" + testHook, testHook + "?x=1"} {
		_, err := New(in)
		require.Error(t, err, in)
		scan.AddError(err)
	}
	c, err = New(testHook, WithSecret(testSecret), WithApp("cli_1", "appsecret-value"))
	require.NoError(t, err)
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		assert.NotContains(t, s, testHook)
		assert.NotContains(t, s, testSecret)
	}
}

func TestOutboxCodecAndPlanner(t *testing.T) {
	t.Parallel()
	c, err := New(testHook)
	require.NoError(t, err)
	var x []any
	for _, o := range []middleware.Option{Post(), Markdown(), Card(json.RawMessage(`{"elements":[]}`)), ShareChat("oc_1"),
		Language("en_us"), Mention("ou_1"), MentionAll(), NoSplit()} {
		x = append(x, testkit.ExtrasOf(o)...)
	}
	want := readOpts(x)
	rv := reflect.ValueOf(want)
	for i := range rv.NumField() {
		assert.False(t, rv.Field(i).IsZero(), "Options.%s is not set by the test", rv.Type().Field(i).Name)
	}
	data, err := c.EncodeOptions(x)
	require.NoError(t, err)
	o, err := c.DecodeOptions(data)
	require.NoError(t, err)
	assert.Equal(t, want, readOpts(testkit.ExtrasOf(o)))
	_, err = c.DecodeOptions([]byte(`{"Post":true,"Later":1}`))
	assert.Error(t, err)
	n, err := c.Messages(&middleware.Message{Items: []middleware.Item{{Type: middleware.TextItem, Text: strings.Repeat("x", 2*BodyLimit)}}})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

// TestEveryOptionIsStored: each option on its own survives the outbox's
// codec; an option added without it fails here.
func TestEveryOptionIsStored(t *testing.T) {
	c, _ := newBackend(t, newMock())
	testkit.OptionsStored(t, c, map[string]middleware.Option{
		"Post": Post(), "Markdown": Markdown(), "Card": Card(json.RawMessage(`{"elements":[]}`)), "ShareChat": ShareChat("oc_1"),
		"Language": Language("en_us"), "Mention": Mention("ou_1"), "MentionAll": MentionAll(), "NoSplit": NoSplit(),
	}, func(x []any) any { return readOpts(x) })
}

// TestSplitTextResumes: a text of three messages stopped at the third by
// the platform resumes with the third only; the per-second budget (5) is
// too small for a push of six at once and is kept message by message,
// while the minute budget books all six before the first leaves.
func TestSplitTextResumes(t *testing.T) {
	var b strings.Builder
	for i := range 3 {
		b.WriteString("part " + string(rune('0'+i)) + " " + strings.Repeat("x", 15000) + "\n")
	}
	text := b.String()
	m := newMock()
	m.answer(`{"code":0,"msg":"success"}`, `{"code":0,"msg":"success"}`, `{"code":19024,"msg":"Key Words Not Found"}`)
	_, mc := newBackend(t, m)
	_, err := mc.Push(bg, IM, "", "", "", text)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 2, pe.SentParts)

	m2 := newMock()
	_, mc2 := newBackend(t, m2)
	_, err = mc2.Push(bg, IM, "", "", "", text, pe.Resume())
	require.NoError(t, err)
	reqs := m2.requests()
	require.Len(t, reqs, 1, "only the rest")
	assert.Contains(t, string(reqs[0].Body), "part 2 ")

	m3 := newMock()
	_, mc3 := newBackend(t, m3, WithRateLimit(100, 5))
	b.Reset()
	for i := range 6 {
		b.WriteString("part " + string(rune('0'+i)) + " " + strings.Repeat("x", 15000) + "\n")
	}
	_, err = mc3.Push(bg, IM, "", "", "", b.String(), middleware.WithTimeout(5*time.Second))
	require.NoError(t, err, "six parts wait for the per-second budget, message by message")
	assert.Len(t, m3.requests(), 6)
}
