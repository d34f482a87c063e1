package dingtalk

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/testkit"
)

// The reference's test vectors, and the query as it must travel.
func TestSignVectors(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		ts             int64
		secret, b64, q string
	}{
		{1700000000000, testSecret, "8SZas7RY4E7wuOlgLfjLwHSKZpyUEdXdLvFYSDZiiFw=", "8SZas7RY4E7wuOlgLfjLwHSKZpyUEdXdLvFYSDZiiFw%3D"},
		{1577836800000, "this is secret", "fFV9t5lBS7KH4+5B0JjR99ab+AJkXFauQXycgTkS/tc=", "fFV9t5lBS7KH4%2B5B0JjR99ab%2BAJkXFauQXycgTkS%2Ftc%3D"},
		{1599360473000, "SECtest", "9uMBwWNha8Pcr4QQCL9YQitwL0E0g2JIxycWz23gAkE=", "9uMBwWNha8Pcr4QQCL9YQitwL0E0g2JIxycWz23gAkE%3D"},
	} {
		assert.Equal(t, v.b64, Sign(v.ts, v.secret))
		c, err := New(testToken, WithSecret(v.secret), WithClock(func() time.Time { return time.UnixMilli(v.ts) }))
		require.NoError(t, err)
		u := c.sendURL(c.now())
		assert.Contains(t, u, "sign="+v.q, "the sign is query-escaped (a raw + would arrive as a space)")
		pu, err := url.Parse(u)
		require.NoError(t, err)
		assert.Equal(t, itoa(v.ts), pu.Query().Get("timestamp"))
		assert.Equal(t, v.b64, pu.Query().Get("sign"))
	}
	// Feishu's algorithm on the first row must not be what DingTalk gets.
	assert.NotEqual(t, "0UchPrPR7d9ELiwRTdlVnwekjOmoRGYIRjxkd7i5vxw=", Sign(1700000000000, testSecret))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Each message type against golden bodies built from the reference's
// field tables; the emulator, which checks the same fields, takes each.
func TestGoldenBodies(t *testing.T) {
	t.Parallel()
	img := "https://example.com/chart.png"
	for _, tt := range []struct {
		name  string
		push  func(c *middleware.Client) (int, error)
		parts int
	}{
		{"text.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "", "Deploy v1.4.2 is live")
		}, 1},
		{"text_mentions.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "user123", "", "Disk full on db-1", MentionMobile("13800000000"), MentionAll())
		}, 1},
		{"markdown.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Weather", "#### Hangzhou\n> 9°C, NW wind\n", Markdown())
		}, 1},
		{"markdown_image.json", func(c *middleware.Client) (int, error) {
			return c.PushImage(bg, IM, "", "", "Chart", img)
		}, 1},
		{"mixed.json", func(c *middleware.Client) (int, error) {
			return c.PushMixed(bg, IM, "", "", "Report", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: img, Caption: "today"},
				{Type: middleware.MarkdownItem, Text: "**all green**"},
			})
		}, 1},
		{"link.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Release notes", "What is new in 1.4", Link("https://example.com/notes", "https://example.com/p.png"))
		}, 1},
		{"action_card_single.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Approve deploy", "### v1.4.2\nready", ActionCard(Button{Title: "Open", URL: "https://example.com/d"}))
		}, 1},
		{"action_card_buttons.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Approve deploy", "### v1.4.2\nready",
				ActionCard(Button{"Approve", "https://example.com/a"}, Button{"Reject", "https://example.com/r"}), ButtonsHorizontal(), HideAvatar())
		}, 1},
		{"feed_card.json", func(c *middleware.Client) (int, error) {
			return c.Push(bg, IM, "", "", "Links", "", FeedCard(
				FeedLink{"One", "https://example.com/1", "https://example.com/1.png"},
				FeedLink{"Two", "https://example.com/2", "https://example.com/2.png"}))
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMock()
			_, c := newBackend(t, m)
			n, err := tt.push(c)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			reqs := m.requests()
			require.Len(t, reqs, tt.parts)
			testkit.GoldenJSON(t, tt.name, reqs[0].Body, *update)
			assert.Equal(t, 1, m.mt.GetTotalCallCount(), "no hidden retry")

			emu := imtest.NewDingTalk()
			defer emu.Close()
			b, err := New(emu.Token, WithBaseURL(emu.URL), WithSecret(emu.Secret))
			require.NoError(t, err)
			_, err = tt.push(clientOf(t, b))
			require.NoError(t, err, "the emulator takes the golden body")
			require.Len(t, emu.Messages(), 1)
		})
	}
}

func TestMentionsNotify(t *testing.T) {
	t.Parallel()
	emu := imtest.NewDingTalk()
	defer emu.Close()
	b, err := New(emu.Token, WithBaseURL(emu.URL), WithSecret(emu.Secret))
	require.NoError(t, err)
	c := clientOf(t, b)
	_, err = c.Push(bg, IM, "", "u1|u2", "", "on call, please look", MentionMobile("13800000000"))
	require.NoError(t, err)
	_, err = c.Push(bg, IM, "", "", "", "## md", Markdown(), MentionUser("u3"))
	require.NoError(t, err)
	msgs := emu.Messages()
	require.Len(t, msgs, 2)
	assert.ElementsMatch(t, []string{"13800000000", "u1", "u2"}, msgs[0].Notified, "the text names every mention, so each is notified")
	assert.Equal(t, []string{"u3"}, msgs[1].Notified)
}

// Refused before any request: each with its sentinel.
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
		{"group", func() (int, error) { return c.Push(bg, IM, "chat1", "", "", "hi") }, middleware.ErrInvalidTarget},
		{"voice", func() (int, error) { return c.PushVoice(bg, IM, "", "", "", "https://example.com/a.amr") }, middleware.ErrUnsupported},
		{"file", func() (int, error) { return c.PushFile(bg, IM, "", "", "", "https://example.com/a.csv") }, middleware.ErrUnsupported},
		{"video", func() (int, error) { return c.PushVideo(bg, IM, "", "", "", "https://example.com/a.mp4") }, middleware.ErrUnsupported},
		{"image from base64", func() (int, error) { return c.PushImage(bg, IM, "", "", "", "base64://aGVsbG8=") }, middleware.ErrUnsupported},
		{"link without title", func() (int, error) { return c.Push(bg, IM, "", "", "", "t", Link("https://e.com", "")) }, middleware.ErrInvalidItem},
		{"link to ftp", func() (int, error) { return c.Push(bg, IM, "", "", "T", "t", Link("ftp://e.com", "")) }, middleware.ErrInvalidItem},
		{"two cards", func() (int, error) {
			return c.Push(bg, IM, "", "", "T", "t", Link("https://e.com", ""), ActionCard(Button{"a", "https://e.com"}))
		}, middleware.ErrInvalidOption},
		{"markdown card", func() (int, error) { return c.Push(bg, IM, "", "", "T", "t", Link("https://e.com", ""), Markdown()) }, middleware.ErrInvalidOption},
		{"layout without card", func() (int, error) { return c.Push(bg, IM, "", "", "T", "t", HideAvatar()) }, middleware.ErrInvalidOption},
		{"feedCard with content", func() (int, error) {
			return c.Push(bg, IM, "", "", "T", "shown nowhere", FeedCard(FeedLink{"a", "https://e.com", "https://e.com/p"}))
		}, middleware.ErrInvalidOption},
		{"feedCard without picture", func() (int, error) {
			return c.Push(bg, IM, "", "", "T", "", FeedCard(FeedLink{"a", "https://e.com", ""}))
		}, middleware.ErrInvalidItem},
		{"mention on a card", func() (int, error) {
			return c.Push(bg, IM, "", "u1", "T", "t", ActionCard(Button{"a", "https://e.com"}))
		}, middleware.ErrUnsupported},
		{"card in mixed", func() (int, error) {
			return c.PushMixed(bg, IM, "", "", "T", []middleware.Item{{Type: middleware.TextItem, Text: "a"}, {Type: middleware.TextItem, Text: "b"}}, Link("https://e.com", ""))
		}, middleware.ErrUnsupported},
		{"NoSplit", func() (int, error) { return c.Push(bg, IM, "", "", "", long, NoSplit()) }, middleware.ErrTooLarge},
		{"card over the limit", func() (int, error) {
			return c.Push(bg, IM, "", "", "T", long, ActionCard(Button{"a", "https://e.com"}))
		}, middleware.ErrTooLarge},
	} {
		n, err := tt.push()
		assert.ErrorIs(t, err, tt.want, tt.name)
		assert.Zero(t, n, tt.name)
	}
	assert.Zero(t, m.mt.GetTotalCallCount(), "nothing was sent")
}

// A long text is split so that every body fits, escapes included, and the
// parts concatenate back to the text; the mention goes with the last.
func TestLongTextSplits(t *testing.T) {
	t.Parallel()
	emu := imtest.NewDingTalk(imtest.WithDingTalkRate(0, time.Minute, time.Minute))
	defer emu.Close()
	b, err := New(emu.Token, WithBaseURL(emu.URL), WithSecret(emu.Secret))
	require.NoError(t, err)
	c := clientOf(t, b)
	line := "告警 \"db-1\" <disk> 95%\t\x01\n"
	text := strings.Repeat(line, 2000)
	n, err := c.Push(bg, IM, "", "u9", "", text)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	msgs := emu.Messages()
	require.Greater(t, len(msgs), 2)
	var got strings.Builder
	for i, m := range msgs {
		assert.LessOrEqual(t, len(m.Body), BodyLimit, "part %d", i)
		content := m.Text
		if i == len(msgs)-1 {
			assert.Equal(t, []string{"u9"}, m.Notified)
			content = strings.TrimSuffix(content, "\n@u9")
		} else {
			assert.Empty(t, m.AtUserIDs, "the mention goes once, with the last part")
		}
		got.WriteString(content)
	}
	assert.Equal(t, text, got.String(), "nothing lost or changed")

	md := strings.Repeat("## section\n\n```\ncode line\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n", 400)
	_, err = c.Push(bg, IM, "", "", "Digest", md, Markdown())
	require.NoError(t, err)
	var mdGot strings.Builder
	for _, m := range emu.Messages()[len(msgs):] {
		assert.Equal(t, "markdown", m.Type)
		assert.Equal(t, "Digest", m.Title)
		assert.Equal(t, strings.Count(m.Text, "```")%2, 0, "code blocks kept whole")
		mdGot.WriteString(m.Text)
	}
	assert.Equal(t, md, mdGot.String())
}

// A split text that fails part-way says how many parts were delivered.
func TestPartialDelivery(t *testing.T) {
	t.Parallel()
	m := newMock()
	_, c := newBackend(t, m)
	m.answer(`{"errcode":0,"errmsg":"ok"}`, `{"errcode":460101,"errmsg":"message too long"}`)
	n, err := c.Push(bg, IM, "", "", "", strings.Repeat("word ", 9000))
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, pe.SentParts)
	assert.False(t, pe.MaybeDelivered)
	assert.ErrorIs(t, err, middleware.ErrTooLarge)
	assert.Equal(t, 2, m.mt.GetTotalCallCount())
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code int
		want error
	}{
		{310000, middleware.ErrUnauthorized},
		{300001, middleware.ErrUnauthorized},
		{300005, middleware.ErrUnauthorized},
		{400102, middleware.ErrAccountOffline},
		{400106, middleware.ErrAccountOffline},
		{400013, middleware.ErrAccountOffline},
		{130101, middleware.ErrRateLimited},
		{410100, middleware.ErrRateLimited},
		{460101, middleware.ErrTooLarge},
		{101002, middleware.ErrTooLarge},
		{-1, middleware.ErrMaybeDelivered},
		{40035, middleware.ErrInvalidItem},
	} {
		m := newMock()
		_, c := newBackend(t, m)
		// DingTalk's newer errmsg is a long sentence; it may echo the token.
		m.answer(`{"errcode":` + itoa(int64(tt.code)) + `,"errmsg":"description:机器人 ` + testToken + `;solution:…"}`)
		_, err := c.Push(bg, IM, "", "", "", "hi")
		assert.ErrorIs(t, err, tt.want, "errcode %d", tt.code)
		var api *middleware.APIError
		require.ErrorAs(t, err, &api)
		assert.Equal(t, tt.code, api.Code)
		assert.NotContains(t, err.Error(), testToken)
		assert.Equal(t, 1, m.mt.GetTotalCallCount(), "errcode %d: not retried", tt.code)
	}
}

// After 130101 the robot is left alone for ten minutes: the next push is
// refused by the client, with what is left of the block.
func TestThrottleIsWaitedOut(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	m := newMock()
	_, c := newBackend(t, m, WithClock(func() time.Time { return now }))
	m.answer(`{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`)
	_, err := c.Push(bg, IM, "", "", "", "one")
	d, ok := middleware.RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, Block, d)
	now = now.Add(4 * time.Minute)
	_, err = c.Push(bg, IM, "", "", "", "two")
	var le *middleware.LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 6*time.Minute, le.RetryAfter)
	assert.Equal(t, 1, m.mt.GetTotalCallCount(), "nothing sent while throttled")
	now = now.Add(6 * time.Minute)
	_, err = c.Push(bg, IM, "", "", "", "three")
	require.NoError(t, err)
}

// The pacer keeps a robot under 20 a minute: against the emulator's
// strict window, 30 pushes arrive with no 130101. The window is shortened
// to 2 s, no further: the pacer's margin is a twentieth of it (100 ms),
// and a shorter one falls under a loaded machine's scheduling jitter.
func TestPacedUnderTheBudget(t *testing.T) {
	t.Parallel()
	window := 2 * time.Second
	emu := imtest.NewDingTalk(imtest.WithDingTalkRate(20, window, time.Minute))
	defer emu.Close()
	b, err := New(emu.Token, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithRateWindow(window))
	require.NoError(t, err)
	c := clientOf(t, b)
	for i := range 30 {
		_, err := c.Push(bg, IM, "", "", "", "n"+itoa(int64(i)))
		require.NoError(t, err, "push %d", i)
	}
	assert.Len(t, emu.Messages(), 30)
	assert.Zero(t, emu.Answered(130101))
}

func TestSignatureRefusals(t *testing.T) {
	t.Parallel()
	emu := imtest.NewDingTalk()
	defer emu.Close()
	for _, opts := range [][]Option{
		{WithSecret("SECwrong")},
		{WithSecret(emu.Secret), WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) })},
		{}, // unsigned
	} {
		b, err := New(emu.Token, append([]Option{WithBaseURL(emu.URL)}, opts...)...)
		require.NoError(t, err)
		_, err = clientOf(t, b).Push(bg, IM, "", "", "", "hi")
		assert.ErrorIs(t, err, middleware.ErrUnauthorized)
	}
	assert.Empty(t, emu.Messages())
}

// Only a request that provably never left is sent again.
func TestNoRetryOfWhatMayHaveArrived(t *testing.T) {
	t.Parallel()
	emu := imtest.NewDingTalk()
	defer emu.Close()
	b, err := New(emu.Token, WithBaseURL(emu.URL), WithSecret(emu.Secret), WithRetry(3, 0))
	require.NoError(t, err)
	c := clientOf(t, b)
	emu.DropAfterRead(1)
	_, err = c.Push(bg, IM, "", "", "", "maybe")
	assert.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	assert.Equal(t, 1, emu.Requests(), "not retried")
	assert.Len(t, emu.Messages(), 1, "it did arrive")

	emu.FailNextHTTP(1, 502)
	_, err = c.Push(bg, IM, "", "", "", "gateway")
	assert.ErrorIs(t, err, middleware.ErrMaybeDelivered)
	emu.FailNextHTTP(1, 302)
	_, err = c.Push(bg, IM, "", "", "", "redirect")
	var api *middleware.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 302, api.HTTPStatus)
	assert.False(t, errors.Is(err, middleware.ErrMaybeDelivered))
	assert.Equal(t, 3, emu.Requests())
}

// msgUuid comes from the idempotency key: the same push sent twice is
// posted once, as DingTalk promises.
func TestIdempotencyKeyIsMsgUUID(t *testing.T) {
	t.Parallel()
	emu := imtest.NewDingTalk()
	defer emu.Close()
	b, err := New(emu.Token, WithBaseURL(emu.URL), WithSecret(emu.Secret))
	require.NoError(t, err)
	c := clientOf(t, b)
	for range 2 {
		_, err = c.Push(bg, IM, "", "", "", "once", middleware.WithIdempotencyKey(42))
		require.NoError(t, err)
	}
	msgs := emu.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "000000000000002a-0", msgs[0].MsgUUID)
}

func TestNewRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "short", "oapi.dingtalk.com/robot/send?access_token=" + testToken,
		"https://oapi.dingtalk.com/robot/other?access_token=" + testToken, "https://oapi.dingtalk.com/robot/send",
		"http://oapi.dingtalk.com/robot/send?access_token=" + testToken, testToken + "!"} {
		_, err := New(in)
		require.Error(t, err, in)
		scan.AddError(err)
		assert.NotContains(t, err.Error(), testToken)
	}
	c, err := New("https://oapi.dingtalk.io/robot/send?access_token=" + testToken)
	require.NoError(t, err)
	assert.Equal(t, InternationalBaseURL, c.base)
	for _, s := range []string{c.String(), fmtV(c)} {
		assert.NotContains(t, s, testToken)
	}
}

func fmtV(c *Client) string {
	b, _ := json.Marshal(struct{ S string }{S: strings.Join([]string{c.GoString(), c.LogValue().String()}, " ")})
	return string(b)
}

func TestOutboxCodecAndPlanner(t *testing.T) {
	t.Parallel()
	c, err := New(testToken)
	require.NoError(t, err)
	all := []middleware.Option{Markdown(), Link("https://e.com", "https://e.com/p"), ActionCard(Button{"a", "https://e.com"}),
		ButtonsHorizontal(), HideAvatar(), FeedCard(FeedLink{"t", "https://e.com", "https://e.com/p"}),
		MentionMobile("1"), MentionUser("u"), MentionAll(), NoSplit()}
	var x []any
	for _, o := range all {
		x = append(x, testkit.ExtrasOf(o)...)
	}
	want := readOpts(x)
	data, err := c.EncodeOptions(x)
	require.NoError(t, err)
	o, err := c.DecodeOptions(data)
	require.NoError(t, err)
	assert.Equal(t, want, readOpts(testkit.ExtrasOf(o)), "every option survives the store")
	rv := reflect.ValueOf(want)
	for i := range rv.NumField() {
		assert.False(t, rv.Field(i).IsZero(), "Options.%s is not set by the test: add its option above", rv.Type().Field(i).Name)
	}
	_, err = c.DecodeOptions([]byte(`{"Markdown":true,"FromTheFuture":1}`))
	assert.Error(t, err, "an unknown field is refused, not dropped")

	msg := &middleware.Message{Items: []middleware.Item{{Type: middleware.TextItem, Text: strings.Repeat("x", 3*BodyLimit)}}}
	n, err := c.Messages(msg)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
}

// TestEveryOptionIsStored: each option on its own survives the outbox's
// codec; an option added without it fails here.
func TestEveryOptionIsStored(t *testing.T) {
	c, _ := newBackend(t, newMock())
	testkit.OptionsStored(t, c, map[string]middleware.Option{
		"Markdown": Markdown(), "Link": Link("https://example.com/a", "https://example.com/p.png"),
		"ActionCard": ActionCard(Button{Title: "Open", URL: "https://example.com/b"}), "ButtonsHorizontal": ButtonsHorizontal(),
		"HideAvatar": HideAvatar(), "FeedCard": FeedCard(FeedLink{Title: "t", MessageURL: "https://example.com/m", PicURL: "https://example.com/p"}),
		"MentionMobile": MentionMobile("138"), "MentionUser": MentionUser("u1"), "MentionAll": MentionAll(), "NoSplit": NoSplit(),
	}, func(x []any) any { return readOpts(x) })
}

// TestSplitTextAllOrNoneAndResume: a text of three messages is refused
// before any request when the budget allows two a window; one stopped
// part-way by the platform resumes with the third message only.
func TestSplitTextAllOrNoneAndResume(t *testing.T) {
	var b strings.Builder
	for i := range 3 {
		fmt.Fprintf(&b, "part %d %s\n", i, strings.Repeat("x", 15000))
	}
	text := b.String()

	m := newMock()
	_, mc := newBackend(t, m, WithRateLimit(2))
	_, err := mc.Push(bg, IM, "", "", "", text)
	require.ErrorIs(t, err, middleware.ErrInvalidItem)
	assert.Contains(t, err.Error(), "3 messages")
	assert.Empty(t, m.requests(), "refused before sending")

	m = newMock()
	m.answer(`{"errcode":0,"errmsg":"ok"}`, `{"errcode":0,"errmsg":"ok"}`, `{"errcode":130101,"errmsg":"send too fast"}`)
	_, mc = newBackend(t, m, WithRetry(1, 0))
	_, err = mc.Push(bg, IM, "", "", "", text)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 2, pe.SentParts)
	assert.False(t, pe.MaybeDelivered)

	m2 := newMock()
	_, mc2 := newBackend(t, m2) // the robot's block is this Client's; a later run resumes
	n, err := mc2.Push(bg, IM, "", "", "", text, pe.Resume())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	reqs := m2.requests()
	require.Len(t, reqs, 1, "only the rest")
	assert.Contains(t, string(reqs[0].Body), "part 2 ")
	assert.NotContains(t, string(reqs[0].Body), "part 1 ")

	_, err = mc2.Push(bg, IM, "", "", "", text, (&middleware.PartialError{SentParts: 3}).Resume())
	require.ErrorIs(t, err, middleware.ErrInvalidOption, "a resume past the end is refused")
}
