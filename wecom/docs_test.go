package wecom

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
)

// Each test here holds the SDK to a sentence of the WeCom doc
// (../shared/seeds/003…), quoted where it decides.

func actions(n int) []Action {
	out := make([]Action, n)
	for i := range out {
		out[i] = Action{Name: fmt.Sprint("a", i), Text: "t", Value: "v", ReplaceText: "r"}
	}
	return out
}

// "一个attachment中最多支持20个action": the limit is per attachment.
func TestButtonsPerAttachment(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		counts  []int
		wantErr error
	}{
		{"20 in one", []int{20}, nil},
		{"21 in one", []int{21}, middleware.ErrTooLarge},
		{"11 and 11", []int{11, 11}, nil},
		{"20 and 20", []int{20, 20}, nil},
		{"20 and 21", []int{20, 21}, middleware.ErrTooLarge},
	} {
		var as []Attachment
		for i, n := range tt.counts {
			as = append(as, Attachment{CallbackID: fmt.Sprint("cb", i), Actions: actions(n)})
		}
		m := newMock(t)
		_, mc := newBackend(t, m)
		_, err := mc.Push(bg, IM, "g", "", "", "pick", Buttons(as...))
		if tt.wantErr == nil {
			require.NoError(t, err, tt.name)
			assert.Len(t, m.typed(), 1, tt.name)
			continue
		}
		require.ErrorIs(t, err, tt.wantErr, tt.name)
		assert.Empty(t, m.requests(), tt.name)
	}
}

// Blackboard posts: "该消息类型不支持发送到小黑板中" (markdown_v2);
// "有且只有chatid指定了一个小黑板的时候生效" (post_id); and blackboards take
// text, markdown and image messages.
func TestBlackboardPosts(t *testing.T) {
	t.Parallel()
	pngB64 := base64.StdEncoding.EncodeToString(testPNG(t, 2, 2))
	csv := "base64://" + base64.StdEncoding.EncodeToString([]byte("a,b\n1,2\n"))
	tests := []struct {
		name string
		push func(mc *middleware.Client, w *Client) (int, error)
		want error
	}{
		{"text", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, IM, "board", "", "", "x", PostID("p1"))
		}, nil},
		{"markdown", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, IM, "board", "", "", "x", PostID("p1"), Markdown())
		}, nil},
		{"image", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushImage(bg, IM, "board", "", "", "base64://"+pngB64, PostID("p1"))
		}, nil},
		{"markdown_v2", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, IM, "board", "", "", "x", PostID("p1"), MarkdownV2())
		}, middleware.ErrUnsupported},
		{"no chatid", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, IM, "", "", "", "x", PostID("p1"))
		}, middleware.ErrInvalidTarget},
		{"two chatids", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, IM, "b1|b2", "", "", "x", PostID("p1"))
		}, middleware.ErrInvalidTarget},
		{"a file", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushFile(bg, IM, "board", "", "", csv, PostID("p1"))
		}, middleware.ErrUnsupported},
		{"an image that must go as a file", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushImage(bg, IM, "board", "", "", "data:image/gif;base64,R0lGODlhAQABAAAAACw=", PostID("p1"))
		}, middleware.ErrUnsupported},
		{"a mention", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, IM, "board", "", "", "x", PostID("p1"), Mention("zhangsan"))
		}, middleware.ErrUnsupported},
		{"news", func(_ *middleware.Client, w *Client) (int, error) {
			return w.SendNews(bg, Target{ChatIDs: []string{"board"}, PostID: "p1"}, Article{Title: "t", URL: "https://e.com"})
		}, middleware.ErrUnsupported},
	}
	for _, tt := range tests {
		m := newMock(t)
		w, mc := newBackend(t, m)
		_, err := tt.push(mc, w)
		if tt.want == nil {
			require.NoError(t, err, tt.name)
			assert.Equal(t, "p1", m.typed()[0].PostID, tt.name)
			continue
		}
		require.ErrorIs(t, err, tt.want, tt.name)
		assert.Empty(t, m.requests(), "%s: nothing sent", tt.name)
	}
}

// "miniprogram.title 是 小程序消息标题，最长为64字节", and pic_media_id, appid
// and page are required.
func TestMiniProgramLimits(t *testing.T) {
	t.Parallel()
	ok := MiniProgram{Title: strings.Repeat("测", 21) + "a", PicMediaID: "m", AppID: "wx1", Page: "p"} // 64 bytes
	require.Len(t, ok.Title, 64)
	require.NoError(t, ok.Validate())
	for _, tt := range []struct {
		name string
		edit func(*MiniProgram)
		want error
	}{
		{"65-byte title", func(mp *MiniProgram) { mp.Title += "b" }, middleware.ErrTooLarge},
		{"no title", func(mp *MiniProgram) { mp.Title = "" }, middleware.ErrInvalidItem},
		{"no appid", func(mp *MiniProgram) { mp.AppID = "" }, middleware.ErrInvalidItem},
		{"no page", func(mp *MiniProgram) { mp.Page = "" }, middleware.ErrInvalidItem},
		{"no cover", func(mp *MiniProgram) { mp.PicMediaID = "" }, middleware.ErrInvalidItem},
		{"two covers", func(mp *MiniProgram) { mp.Cover = "base64://aGVsbG8=" }, middleware.ErrInvalidItem},
		{"unreadable cover", func(mp *MiniProgram) { mp.PicMediaID, mp.Cover = "", "base64://%%%" }, middleware.ErrInvalidItem},
	} {
		mp := ok
		tt.edit(&mp)
		m := newMock(t)
		w, _ := newBackend(t, m)
		_, err := w.SendMiniProgram(bg, Target{}, mp)
		require.ErrorIs(t, err, tt.want, tt.name)
		assert.Empty(t, m.requests(), tt.name)
	}
	// A cover that is not an image is refused before anything is sent.
	m := newMock(t)
	w, _ := newBackend(t, m)
	mp := ok
	mp.PicMediaID, mp.Cover = "", "data:text/plain;base64,"+base64.StdEncoding.EncodeToString([]byte("not a picture"))
	_, err := w.SendMiniProgram(bg, Target{}, mp)
	require.ErrorIs(t, err, middleware.ErrInvalidItem)
	assert.Empty(t, m.requests())
}

// Through the emulator: the cover is uploaded once and reused; the card
// arrives with its title.
func TestMiniProgramOnTheEmulator(t *testing.T) {
	t.Parallel()
	wc := imtest.NewWeCom()
	t.Cleanup(wc.Close)
	w, err := New(wc.Key, WithBaseURL(wc.URL), WithRateLimit(0))
	require.NoError(t, err)
	cover := "base64://" + base64.StdEncoding.EncodeToString(testPNG(t, 52, 41))
	for range 2 {
		n, err := w.SendMiniProgram(context.Background(), Target{ChatIDs: []string{"wrkGroup"}},
			MiniProgram{Title: "日报", Cover: cover, AppID: "wx8bd80126147dfAAA", Page: "pages/daily"})
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	}
	assert.Equal(t, 1, wc.Uploads(), "the cover went up once")
	msgs := wc.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, "miniprogram", msgs[0].Type)
	assert.Equal(t, "日报", msgs[0].Content)
}

func TestTitleAsHeading(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	_, err := mc.Push(bg, IM, "g", "", "Daily", "text", TitleAsHeading())
	require.ErrorIs(t, err, middleware.ErrInvalidOption, "a text message has no heading")
	// A push whose content fell back to the title does not repeat it.
	_, err = mc.Push(bg, IM, "g", "", "Daily", "", TitleAsHeading(), Markdown())
	require.NoError(t, err)
	assert.Equal(t, "Daily", m.typed()[0].Markdown.Content)
}

// A caption is a text message right after its media; the item counts as
// delivered only when both went out.
func TestCaption(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	m.answer("send", `{"errcode":0,"errmsg":"ok"}`, `{"errcode":40058,"errmsg":"bad"}`)
	_, mc := newBackend(t, m)
	pngB64 := base64.StdEncoding.EncodeToString(testPNG(t, 2, 2))
	n, err := mc.PushMixed(bg, IM, "g", "", "", []middleware.Item{
		{Type: middleware.ImageItem, Source: "base64://" + pngB64, Caption: "chart"},
		{Type: middleware.TextItem, Text: "after"},
	})
	assert.Equal(t, 1, n)
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Empty(t, pe.DeliveredItems, "the image went, its caption did not")
	assert.Equal(t, 0, pe.FailedItem)
	assert.Equal(t, 1, pe.SentParts)
}

func TestOptionsOf(t *testing.T) {
	t.Parallel()
	rec := imtest.NewRecorder()
	mc, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: IM, Backend: rec}))
	require.NoError(t, err)
	_, err = mc.Push(bg, IM, "g", "", "", "x", Markdown(), Mention("zhangsan"), VisibleTo("lisi"), TitleAsHeading())
	require.NoError(t, err)
	got, ok := rec.Last()
	require.True(t, ok)
	o := OptionsOf(got.Message())
	assert.Equal(t, Options{Format: "markdown", Mentions: []string{"zhangsan"}, VisibleTo: []string{"lisi"}, TitleAsHeading: true}, o)
}

// WithProgress sees an upload's bytes as they stream, up to the size.
func TestUploadProgress(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	data := strings.Repeat("x,y\n", 256<<10) // 1 MiB
	var calls int
	var last, total int64
	_, err := mc.PushFile(bg, IM, "g", "", "", "base64://"+base64.StdEncoding.EncodeToString([]byte(data)),
		middleware.WithFilename("big.csv"), middleware.WithProgress(func(done, tot int64) {
			require.GreaterOrEqual(t, done, last, "progress never goes back")
			calls, last, total = calls+1, done, tot
		}))
	require.NoError(t, err)
	assert.Greater(t, calls, 1, "reported as it streamed")
	assert.Equal(t, int64(len(data)), last)
	assert.Equal(t, int64(len(data)), total)
}
