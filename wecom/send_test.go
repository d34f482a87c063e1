package wecom

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
)

func testPNG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{R: uint8(x), G: 80, B: 160, A: 255})
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

var amrBytes = []byte("#!AMR\n\x3c\x55\x00\x88\xb6\x66\x79\xe1\xe0\x01\xe7\xcf\xf0\x00\x00\x00")

// TestGoldenBodies checks the JSON of every message type against
// testdata/. Run with -update to rewrite them after a deliberate change.
func TestGoldenBodies(t *testing.T) {
	t.Parallel()
	pngData := testPNG(t, 4, 4)
	pngB64 := base64.StdEncoding.EncodeToString(pngData)
	tests := []struct {
		name string
		push func(mc *middleware.Client, w *Client) (int, error)
	}{
		{"text.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "wrkGroup", "", "Daily", "Tasks <done> & dusted")
		}},
		{"text_mentions.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "wrkGroup", "zhangsan|lisi", "", "Deploy finished", MentionMobile("13800001111"), MentionAll())
		}},
		{"text_user_fields.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "", "zhangsan", "", "hi", middleware.WithField("safe", 1))
		}},
		{"markdown_mentions.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "wrkGroup", "", "", "# Report\n<font color=\"info\">ok</font>", Markdown(), Mention("zhangsan"), AtShortName())
		}},
		{"markdown_v2.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "wrkGroup", "", "", "| a | b |\n| :- | -: |\n| 1 | 2 |", MarkdownV2(), VisibleTo("zhangsan"))
		}},
		{"markdown_buttons.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "wrkGroup", "", "", "Pick a size", Buttons(Attachment{CallbackID: "size", Actions: []Action{
				{Name: "s", Text: "S", Value: "S", ReplaceText: "You chose S"},
				{Name: "l", Text: "L", Value: "L", ReplaceText: "You chose L", BorderColor: "2EAB49"},
			}}))
		}},
		{"image.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushImage(bg, "wecom", "wrkGroup", "", "", "base64://"+pngB64, PostID("post1"))
		}},
		{"file.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushFile(bg, "wecom", "wrkGroup", "", "", "data:text/csv;base64,"+base64.StdEncoding.EncodeToString([]byte("a,b\n1,2\n")), middleware.WithFilename("日报.csv"))
		}},
		{"voice.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushVoice(bg, "wecom", "wrkGroup", "", "", "base64://"+base64.StdEncoding.EncodeToString(amrBytes))
		}},
		{"news.json", func(_ *middleware.Client, w *Client) (int, error) {
			return w.SendNews(bg, Target{ChatIDs: []string{"wrkGroup"}}, Article{Title: "中秋节礼品领取", Description: "今年中秋节公司有豪礼相送", URL: "https://example.com/a"}, Article{Title: "b", URL: "https://example.com/b", PicURL: "https://example.com/b.png"})
		}},
		{"template_text_notice.json", func(_ *middleware.Client, w *Client) (int, error) {
			return w.SendTemplateCard(bg, Target{}, &TemplateCard{
				CardType:              "text_notice",
				Source:                &CardSource{Desc: "CI", DescColor: 3},
				MainTitle:             &CardTitle{Title: "Build 42", Desc: "main"},
				EmphasisContent:       &CardTitle{Title: "100%", Desc: "tests passed"},
				HorizontalContentList: []HorizontalEntry{{KeyName: "author", Value: "lisi"}, {KeyName: "log", Value: "open", Type: 1, URL: "https://ci/42"}},
				JumpList:              []Jump{{Type: 1, Title: "details", URL: "https://ci/42"}},
				CardAction:            &CardAction{Type: 1, URL: "https://ci/42"},
			})
		}},
		{"miniprogram.json", func(_ *middleware.Client, w *Client) (int, error) {
			return w.SendMiniProgram(bg, Target{ChatIDs: []string{"wrkGroup"}}, MiniProgram{
				Title: "小程序测试消息", PicMediaID: "MEDIA_ID", AppID: "wx8bd80126147dfAAA", Page: "/path/index.html"})
		}},
		{"miniprogram_cover.json", func(_ *middleware.Client, w *Client) (int, error) {
			return w.SendMiniProgram(bg, Target{}, MiniProgram{
				Title: "Daily", Cover: "base64://" + pngB64, AppID: "wx8bd80126147dfAAA", Page: "pages/daily"})
		}},
		{"markdown_title_heading.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.Push(bg, "wecom", "wrkGroup", "", "Daily report", "- deploys: 3", Markdown(), TitleAsHeading())
		}},
		{"caption.json", func(mc *middleware.Client, _ *Client) (int, error) {
			return mc.PushMixed(bg, "wecom", "wrkGroup", "", "", []middleware.Item{
				{Type: middleware.ImageItem, Source: "base64://" + pngB64, Caption: "Load, last 24 h"}})
		}},
		{"template_news_notice.json", func(_ *middleware.Client, w *Client) (int, error) {
			return w.SendTemplateCard(bg, Target{ChatIDs: []string{"wrkGroup"}}, &TemplateCard{
				CardType:            "news_notice",
				MainTitle:           &CardTitle{Title: "Release"},
				CardImage:           &CardImage{URL: "https://example.com/c.png", AspectRatio: 1.5},
				VerticalContentList: []CardTitle{{Title: "v1.2", Desc: "faster"}},
				CardAction:          &CardAction{Type: 1, URL: "https://example.com"},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMock(t)
			w, mc := newBackend(t, m)
			n, err := tt.push(mc, w)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, n, 1)
			reqs := m.requests()
			last := reqs[len(reqs)-1]
			assert.Equal(t, "/cgi-bin/webhook/send", last.Path)
			assert.Equal(t, "key="+testKey, last.Query)
			assert.Equal(t, "application/json", last.ContentType)
			assert.Equal(t, int64(len(last.Body)), last.ContentLength, "sent with Content-Length, not chunked")
			golden(t, tt.name, last.Body)
		})
	}
}

func TestImageMD5AndRoute(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	data := testPNG(t, 64, 64)
	dir := t.TempDir()
	p := filepath.Join(dir, "chart.png")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	n, err := mc.PushImage(bg, "wecom", "g1|g2", "", "", p)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "one count per chat id")
	s := m.typed()
	require.Len(t, s, 1)
	img := s[0].Image
	require.NotNil(t, img)
	raw, err := base64.StdEncoding.DecodeString(img.Base64)
	require.NoError(t, err)
	assert.Equal(t, data, raw)
	sum := md5.Sum(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), img.MD5)
	assert.Equal(t, "g1|g2", s[0].ChatID)
}

func TestMediaRoutes(t *testing.T) {
	t.Parallel()
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	bigPNG := append(append([]byte{}, magicPNG...), make([]byte, ImageLimit)...)
	tests := []struct {
		name      string
		push      func(mc *middleware.Client) (int, error)
		wantType  string // msgtype of the send
		wantQuery string // upload query, "" for none
		wantName  string
	}{
		{"gif goes as file", func(mc *middleware.Client) (int, error) {
			return mc.PushImage(bg, "wecom", "g", "", "", "base64://"+base64.StdEncoding.EncodeToString(gif))
		}, "file", "type=file", "image.gif"},
		{"png over 2 MB goes as file", func(mc *middleware.Client) (int, error) {
			return mc.PushMixed(bg, "wecom", "g", "", "", []middleware.Item{{Type: middleware.ImageItem, Data: bigPNG, Name: "big.png"}})
		}, "file", "type=file", "big.png"},
		{"amr goes as voice", func(mc *middleware.Client) (int, error) {
			return mc.PushVoice(bg, "wecom", "g", "", "", "base64://"+base64.StdEncoding.EncodeToString(amrBytes))
		}, "voice", "type=voice", "voice.amr"},
		{"mp3 goes as file", func(mc *middleware.Client) (int, error) {
			return mc.PushMixed(bg, "wecom", "g", "", "", []middleware.Item{{Type: middleware.VoiceItem, Data: []byte("ID3\x03\x00\x00\x00\x00\x00\x00 mp3 data"), Name: "n.mp3"}})
		}, "file", "type=file", "n.mp3"},
		{"video goes as file", func(mc *middleware.Client) (int, error) {
			return mc.PushVideo(bg, "wecom", "g", "", "", "base64://"+base64.StdEncoding.EncodeToString([]byte("\x00\x00\x00\x18ftypmp42 video")), middleware.WithFilename("demo.mp4"))
		}, "file", "type=file", "demo.mp4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMock(t)
			_, mc := newBackend(t, m)
			_, err := tt.push(mc)
			require.NoError(t, err)
			reqs := m.requests()
			require.Len(t, reqs, 2)
			assert.Equal(t, "/cgi-bin/webhook/upload_media", reqs[0].Path)
			assert.Equal(t, "key="+testKey+"&"+tt.wantQuery, reqs[0].Query)
			assert.Contains(t, string(reqs[0].Body), `filename="`+tt.wantName+`"`)
			s := m.typed()
			assert.Equal(t, tt.wantType, s[0].MsgType)
			ref := s[0].File
			if tt.wantType == "voice" {
				ref = s[0].Voice
			}
			require.NotNil(t, ref)
			assert.Equal(t, "MEDIA1", ref.MediaID)
		})
	}
}

// TestUploadMultipartExact asserts the upload body byte for byte: part name,
// a raw UTF-8 Chinese file name with escaping, filelength, Content-Type.
// (Control characters in a name are refused before this point: see
// TestControlCharactersNeverReachAHeader.)
func TestUploadMultipartExact(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	content := "mytext-日报内容"
	_, err := mc.PushFile(bg, "wecom", "g", "", "", "base64://"+base64.StdEncoding.EncodeToString([]byte(content)),
		middleware.WithFilename("日报 \"终版\"\\.txt"), middleware.WithMIME("text/plain"))
	require.NoError(t, err)
	up := m.requests()[0]
	want := "--BOUNDARY\r\n" +
		`Content-Disposition: form-data; name="media"; filename="日报 \"终版\"\\.txt"; filelength=` + "19\r\n" +
		"Content-Type: text/plain\r\n\r\n" +
		content +
		"\r\n--BOUNDARY--\r\n"
	assert.Equal(t, want, string(up.Body))
	assert.Equal(t, int64(len(want)), up.ContentLength)
	assert.Equal(t, "multipart/form-data; boundary=BOUNDARY", up.ContentType)
	assert.Len(t, content, 19)
}

func TestTextSplitting(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	line := strings.Repeat("数据", 100) + "\n" // 601 bytes
	content := strings.Repeat(line, 9)       // 5409 bytes
	n, err := mc.Push(bg, "wecom", "g", "u1", "", content)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	s := m.typed()
	require.Len(t, s, 3)
	var joined strings.Builder
	for i, b := range s {
		txt := b.Text
		require.NotNil(t, txt)
		c := txt.Content
		assert.LessOrEqual(t, len(c), TextLimit)
		assert.True(t, strings.HasSuffix(c, "\n"), "chunks end at line breaks")
		joined.WriteString(c)
		if i == 0 {
			assert.Equal(t, []string{"u1"}, txt.MentionedList, "mention rides on the first chunk")
		} else {
			assert.Nil(t, txt.MentionedList)
		}
	}
	assert.Equal(t, content, joined.String(), "nothing lost, nothing reordered")

	// NoSplit refuses before any I/O.
	calls := m.mt.GetTotalCallCount()
	_, err = mc.Push(bg, "wecom", "g", "", "", content, NoSplit())
	require.ErrorIs(t, err, middleware.ErrTooLarge)
	assert.Equal(t, calls, m.mt.GetTotalCallCount())
}

func TestMarkdownSplitKeepsBlocks(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	table := "| name | value |\n| --- | --- |\n" + strings.Repeat("| row | 12345 |\n", 100)
	code := "```\n" + strings.Repeat("fmt.Println(\"hello\")\n\n", 60) + "```\n"
	content := strings.Repeat("para ", 300) + "\n\n" + table + "\n" + code + "\nthe end"
	_, err := mc.Push(bg, "wecom", "g", "", "", content, Markdown())
	require.NoError(t, err)
	var joined strings.Builder
	for _, b := range m.typed() {
		require.NotNil(t, b.Markdown)
		c := b.Markdown.Content
		assert.LessOrEqual(t, len(c), MarkdownLimit)
		assert.Equal(t, 0, strings.Count(c, "```")%2, "code fences paired in every chunk")
		joined.WriteString(c)
		if strings.Contains(c, "| row |") {
			assert.Contains(t, c, "| name | value |", "the table stays whole")
		}
	}
	assert.Equal(t, content, joined.String())
}

func TestValidateBeforeIO(t *testing.T) {
	t.Parallel()
	many := strings.TrimSuffix(strings.Repeat("g|", 101), "|")
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(FileLimit+1))
	require.NoError(t, f.Close())
	tests := []struct {
		name string
		push func(mc *middleware.Client) (int, error)
		want error
	}{
		{"101 chat ids", func(mc *middleware.Client) (int, error) { return mc.Push(bg, "wecom", many, "", "", "x") }, middleware.ErrInvalidTarget},
		{"VisibleTo with two groups", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "wecom", "a|b", "", "", "x", VisibleTo("u"))
		}, middleware.ErrInvalidTarget},
		{"markdown_v2 mention", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "wecom", "a", "u", "", "x", MarkdownV2())
		}, middleware.ErrUnsupported},
		{"markdown MentionAll", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "wecom", "a", "", "", "x", Markdown(), MentionAll())
		}, middleware.ErrUnsupported},
		{"file over 20 MB", func(mc *middleware.Client) (int, error) { return mc.PushFile(bg, "wecom", "a", "", "", big) }, middleware.ErrTooLarge},
		{"file of 5 bytes", func(mc *middleware.Client) (int, error) {
			return mc.PushFile(bg, "wecom", "a", "", "", "base64://"+base64.StdEncoding.EncodeToString([]byte("12345")))
		}, middleware.ErrInvalidItem},
		{"mixed with a big file sends nothing", func(mc *middleware.Client) (int, error) {
			return mc.PushMixed(bg, "wecom", "a", "", "", []middleware.Item{{Type: middleware.TextItem, Text: "first"}, {Type: middleware.FileItem, Source: big}})
		}, middleware.ErrTooLarge},
		{"too many buttons", func(mc *middleware.Client) (int, error) {
			return mc.Push(bg, "wecom", "a", "", "", "x", Buttons(Attachment{CallbackID: "c", Actions: make([]Action, 21)}))
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
			assert.Zero(t, m.mt.GetTotalCallCount(), "refused before any I/O")
		})
	}
}

func TestTypedSendValidation(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	w, _ := newBackend(t, m)
	_, err := w.SendNews(bg, Target{})
	require.ErrorIs(t, err, middleware.ErrInvalidItem)
	_, err = w.SendNews(bg, Target{}, Article{Title: strings.Repeat("t", 129), URL: "u"})
	require.ErrorIs(t, err, middleware.ErrTooLarge)
	_, err = w.SendTemplateCard(bg, Target{}, &TemplateCard{CardType: "text_notice", MainTitle: &CardTitle{Title: "x"}})
	require.ErrorIs(t, err, middleware.ErrInvalidItem, "card_action is required")
	_, err = w.SendTemplateCard(bg, Target{}, &TemplateCard{CardType: "news_notice", MainTitle: &CardTitle{Title: "x"}, CardAction: &CardAction{Type: 1, URL: "u"}})
	require.ErrorIs(t, err, middleware.ErrInvalidItem, "news_notice needs an image")
	_, err = w.SendTemplateCard(bg, Target{ChatIDs: []string{"a", "b"}, VisibleTo: []string{"u"}}, &TemplateCard{CardType: "text_notice", SubTitleText: "x", CardAction: &CardAction{Type: 1, URL: "u"}})
	require.ErrorIs(t, err, middleware.ErrInvalidTarget)
	assert.Zero(t, m.mt.GetTotalCallCount())
}

func TestMediaOnlyMention(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	_, err := mc.PushImage(bg, "wecom", "g", "zhangsan", "Chart of the day", "base64://"+base64.StdEncoding.EncodeToString(testPNG(t, 2, 2)))
	require.NoError(t, err)
	s := m.typed()
	require.Len(t, s, 2, "the image, then a text that carries the mention")
	assert.Equal(t, "image", s[0].MsgType)
	require.NotNil(t, s[1].Text)
	assert.Equal(t, "Chart of the day", s[1].Text.Content)
	assert.Equal(t, []string{"zhangsan"}, s[1].Text.MentionedList)
}

func TestMentionOncePerPush(t *testing.T) {
	t.Parallel()
	m := newMock(t)
	_, mc := newBackend(t, m)
	img := testPNG(t, 2, 2)
	_, err := mc.PushMixed(bg, "wecom", "g", "zhangsan", "", []middleware.Item{
		{Type: middleware.TextItem, Text: "first"},
		{Type: middleware.ImageItem, Data: img},
		{Type: middleware.TextItem, Text: "second"},
	})
	require.NoError(t, err)
	s := m.typed()
	require.Len(t, s, 3)
	assert.Equal(t, "first\n<@zhangsan>", s[0].Markdown.Content)
	assert.Equal(t, "second", s[2].Markdown.Content, "pinged once, not per text run")
}
