// Command quickstart pushes every kind of message to WeCom, Tencent Cloud
// IM, DingTalk and Feishu, then prints what each platform received.
//
// With no credentials it runs on the in-process emulators of package imtest:
// no network, nothing to install. These environment variables send to the
// real services instead (docs/cli.md, "Sending for real"):
//
//	WECOM_WEBHOOK_KEY   the bot's key or whole webhook URL: WeCom for real
//	TIM_SDKAPPID        the app id: TIM for real, with
//	TIM_SECRET_KEY      its secret key, and
//	TIM_ADMIN           an App admin account
//	TIM_REGION          china (default), singapore, seoul, frankfurt, ...
//	TIM_TO_USER         the user that gets the messages (default alice)
//	TIM_GROUP           a group for the mixed push (default: TIM_TO_USER)
//	TIM_MEDIA_BASE      an https URL serving the sample files (chart.png,
//	                    thumb.png, daily.csv, notice.amr, demo.mp4): TIM takes
//	                    media by URL only; unset, TIM's media steps are skipped
//	QUICKSTART_SAMPLES  a directory to write the sample files to, to upload
//	                    them where TIM_MEDIA_BASE points
//	DINGTALK_WEBHOOK    a DingTalk robot's webhook URL (with
//	DINGTALK_SECRET     its signing secret, if it has one): DingTalk for real
//	FEISHU_WEBHOOK      a Feishu or Lark bot's webhook URL (with
//	FEISHU_SECRET       its signing secret, and FEISHU_APP_ID and
//	                    FEISHU_APP_SECRET for images): Feishu for real
//	QUICKSTART_LOG      any value: print the SDK's log record of each push
//
// It exits non-zero if anything expected did not arrive.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/dingtalk"
	"github.com/imbridge/middleware/feishu"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// setup is where the pushes go.
type setup struct {
	client     *middleware.Client
	wc         *imtest.WeCom // nil when sending to the real WeCom
	tim        *imtest.TIM   // nil when sending to the real TIM
	timUser    string
	timGroup   string
	mediaBase  string // where TIM media can be fetched from, for real TIM
	cleanup    []func()
	emulated   []string
	wecomGroup string
	accounts   *accountLog
	dt         *imtest.DingTalk // nil when sending to the real DingTalk
	fs         *imtest.Feishu   // nil when sending to the real Feishu
}

// accountLog is a slog.Handler that keeps the account of the last push
// record, to show which account each push went out from.
type accountLog struct {
	mu      sync.Mutex
	account string
	next    slog.Handler
}

func (a *accountLog) Enabled(context.Context, slog.Level) bool { return true }

func (a *accountLog) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(at slog.Attr) bool {
		if at.Key == "account" {
			a.mu.Lock()
			a.account = at.Value.String()
			a.mu.Unlock()
		}
		return true
	})
	if a.next != nil {
		return a.next.Handle(ctx, r)
	}
	return nil
}

func (a *accountLog) WithAttrs([]slog.Attr) slog.Handler { return a }
func (a *accountLog) WithGroup(string) slog.Handler      { return a }

func (a *accountLog) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.account
}

func run(out io.Writer) error {
	s, err := newSetup()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range s.cleanup {
			f()
		}
	}()
	files, done, err := samples()
	if err != nil {
		return err
	}
	defer done()

	// A message arrived on the WeCom bot "wecom-ops": pushes to WeCom made
	// while handling it go out from that bot (rule 2); pushes to TIM use
	// TIM's default account (rule 4).
	ctx := middleware.WithOrigin(context.Background(), middleware.Origin{Kind: middleware.OriginMessage, IM: wecom.IM, AccountID: "wecom-ops"})
	fmt.Fprintf(out, "imbridge/middleware quickstart (%s)\n\n", strings.Join(s.emulated, ", "))
	steps := append(s.wecomSteps(ctx, files), s.timSteps(ctx, files)...)
	steps = append(steps, s.dingTalkSteps(ctx)...)
	steps = append(steps, s.feishuSteps(ctx, files)...)
	steps = append(steps, step{name: "on purpose: unknown account", fail: true, push: func() (int, error) {
		return s.client.Push(ctx, wecom.IM, s.wecomGroup, "", "", "never sent", middleware.WithAccountID("nobody"))
	}})
	failed := s.runSteps(out, steps)
	fmt.Fprintln(out)
	failed += s.report(out)
	if failed > 0 {
		return fmt.Errorf("%d check(s) failed", failed)
	}
	fmt.Fprintln(out, "\nall pushes arrived")
	return nil
}

// samples writes the sample media to QUICKSTART_SAMPLES, or to a
// temporary directory that done removes.
func samples() (files map[string]string, done func(), err error) {
	done = func() {}
	dir := os.Getenv("QUICKSTART_SAMPLES")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "quickstart"); err != nil {
			return nil, done, err
		}
		done = func() { os.RemoveAll(dir) }
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, done, err
	}
	files, err = writeSamples(dir)
	return files, done, err
}

// step is one push of the quickstart.
type step struct {
	name string
	push func() (int, error)
	fail bool // expected to fail
	// media marks a TIM step that needs the sample files by URL on the
	// real service.
	media bool
}

// wecomSteps pushes each kind of message to WeCom.
func (s *setup) wecomSteps(ctx context.Context, files map[string]string) []step {
	c, to := s.client, s.wecomGroup
	return []step{
		{name: "wecom text", push: func() (int, error) {
			return c.Push(ctx, wecom.IM, to, "", "Daily report", "Deploys: 3, incidents: 0")
		}},
		{name: "wecom markdown", push: func() (int, error) {
			return c.Push(ctx, wecom.IM, to, "", "", "## Build\n<font color=\"info\">green</font>", wecom.Markdown())
		}},
		{name: "wecom image", push: func() (int, error) { return c.PushImage(ctx, wecom.IM, to, "", "Chart", files["chart"]) }},
		{name: "wecom file", push: func() (int, error) {
			return c.PushFile(ctx, wecom.IM, to, "", "", files["csv"], middleware.WithFilename("日报.csv"))
		}},
		{name: "wecom voice", push: func() (int, error) { return c.PushVoice(ctx, wecom.IM, to, "", "", files["amr"]) }},
		{name: "wecom video", push: func() (int, error) { return c.PushVideo(ctx, wecom.IM, to, "", "", files["mp4"]) }},
		{name: "wecom mixed", push: func() (int, error) {
			return c.PushMixed(ctx, wecom.IM, to, "", "", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: files["chart"]},
			})
		}},
	}
}

// timSteps pushes each kind of message to TIM. TIM takes media by URL: on
// the emulator the samples are hosted by the media host, on the real
// service they are URLs under TIM_MEDIA_BASE, the video's thumbnail too.
func (s *setup) timSteps(ctx context.Context, files map[string]string) []step {
	c, to, media := s.client, s.timUser, func(name string) string { return s.media(files, name) }
	return []step{
		{name: "tim text", push: func() (int, error) {
			return c.Push(ctx, timchat.IM, "", to, "Daily report", "Deploys: 3, incidents: 0")
		}},
		{name: "tim markdown", push: func() (int, error) { return c.Push(ctx, timchat.IM, "", to, "", "**bold** text") }},
		{name: "tim image", media: true, push: func() (int, error) {
			return c.PushImage(ctx, timchat.IM, "", to, "Chart", media("chart"))
		}},
		{name: "tim file", media: true, push: func() (int, error) { return c.PushFile(ctx, timchat.IM, "", to, "", media("csv")) }},
		{name: "tim voice", media: true, push: func() (int, error) {
			return c.PushVoice(ctx, timchat.IM, "", to, "", media("amr"), timchat.VoiceSeconds(1))
		}},
		{name: "tim video", media: true, push: func() (int, error) {
			return c.PushVideo(ctx, timchat.IM, "", to, "", media("mp4"), timchat.Thumbnail(media("thumb")))
		}},
		{name: "tim mixed", media: true, push: func() (int, error) {
			return c.PushMixed(ctx, timchat.IM, s.timGroup, to, "Result", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: media("chart")},
			})
		}},
	}
}

// dingTalkSteps pushes each DingTalk message type: text with a mention,
// markdown, an image by URL, link, actionCard with one and two buttons,
// feedCard.
func (s *setup) dingTalkSteps(ctx context.Context) []step {
	c, im := s.client, dingtalk.IM
	pic := "https://img.example.com/chart.png"
	return []step{
		{name: "dingtalk text", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Daily report", "Deploys: 3, incidents: 0", dingtalk.MentionMobile("13800000000"))
		}},
		{name: "dingtalk markdown", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Build", "## Build\n**green** in 4m", dingtalk.Markdown())
		}},
		{name: "dingtalk image (by URL)", push: func() (int, error) { return c.PushImage(ctx, im, "", "", "Chart", pic) }},
		{name: "dingtalk link", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Release notes", "What is new in 1.4", dingtalk.Link("https://example.com/notes", pic))
		}},
		{name: "dingtalk actionCard", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Deploy v1.4.2?", "### v1.4.2\nready to ship",
				dingtalk.ActionCard(dingtalk.Button{Title: "Approve", URL: "https://example.com/a"}, dingtalk.Button{Title: "Reject", URL: "https://example.com/r"}))
		}},
		{name: "dingtalk feedCard", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Reading", "", dingtalk.FeedCard(
				dingtalk.FeedLink{Title: "Runbook", MessageURL: "https://example.com/runbook", PicURL: pic}))
		}},
		{name: "dingtalk mixed", push: func() (int, error) {
			return c.PushMixed(ctx, im, "", "", "Result", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: pic},
			})
		}},
	}
}

// feishuSteps pushes each Feishu message type: text with a mention, post,
// a lark_md card, an interactive card, share_chat, an image uploaded by the
// app, and a mixed post.
func (s *setup) feishuSteps(ctx context.Context, files map[string]string) []step {
	c, im := s.client, feishu.IM
	card := []byte(`{"header":{"title":{"tag":"plain_text","content":"Deploy"}},"elements":[{"tag":"div","text":{"tag":"lark_md","content":"**v1.4.2** is live"}}]}`)
	return []step{
		{name: "feishu text", push: func() (int, error) {
			return c.Push(ctx, im, "", "ou_quickstart", "Daily report", "Deploys: 3, incidents: 0")
		}},
		{name: "feishu post", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Weekly", "Deploys: 3\nIncidents: 0", feishu.Post())
		}},
		{name: "feishu markdown card", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Build", "**green** in 4m", feishu.Markdown())
		}},
		{name: "feishu interactive", push: func() (int, error) { return c.Push(ctx, im, "", "", "Deploy card", "", feishu.Card(card)) }},
		{name: "feishu share_chat", push: func() (int, error) {
			return c.Push(ctx, im, "", "", "Join the room", "", feishu.ShareChat("oc_f5b1a7eb27ae2c7b6adc2a74faf339ff"))
		}},
		{name: "feishu image", push: func() (int, error) { return c.PushImage(ctx, im, "", "", "Chart", files["chart"]) }},
		{name: "feishu mixed", push: func() (int, error) {
			return c.PushMixed(ctx, im, "", "", "Result", []middleware.Item{
				{Type: middleware.TextItem, Text: "Result:"},
				{Type: middleware.ImageItem, Source: files["chart"], Caption: "today"},
			})
		}},
	}
}

// runSteps pushes each step, prints how it went, and counts failures.
func (s *setup) runSteps(out io.Writer, steps []step) int {
	failed := 0
	for _, st := range steps {
		if st.media && s.tim == nil && s.mediaBase == "" {
			fmt.Fprintf(out, "  skip  %-28s TIM takes media by URL: set TIM_MEDIA_BASE\n", st.name)
			continue
		}
		start := time.Now()
		n, err := st.push()
		d := time.Since(start).Round(time.Millisecond)
		switch {
		case st.fail && err != nil:
			fmt.Fprintf(out, "  ok    %-28s failed as expected: %v\n", st.name, err)
		case st.fail:
			failed++
			fmt.Fprintf(out, "  FAIL  %-28s should have failed\n", st.name)
		case err != nil:
			failed++
			fmt.Fprintf(out, "  FAIL  %-28s %v\n", st.name, err)
		default:
			fmt.Fprintf(out, "  ok    %-28s from %-13s to %d target(s) in %s\n", st.name, s.accounts.last(), n, d)
		}
	}
	return failed
}

// media returns what to push to TIM for a sample: the local file on the
// emulator (hosted by the media host), a URL on the real service.
func (s *setup) media(files map[string]string, name string) string {
	if s.tim != nil || s.mediaBase == "" {
		return files[name]
	}
	return strings.TrimRight(s.mediaBase, "/") + "/" + filepath.Base(files[name])
}

// report prints what the emulators received and counts what is missing.
func (s *setup) report(out io.Writer) int {
	missing := 0
	if s.wc != nil {
		msgs := s.wc.Messages()
		fmt.Fprintf(out, "WeCom emulator received %d messages:\n", len(msgs))
		var types []string
		for _, m := range msgs {
			types = append(types, m.Type)
			switch {
			case m.Content != "":
				fmt.Fprintf(out, "  %-9s %q\n", m.Type, m.Content)
			case m.Image != nil:
				fmt.Fprintf(out, "  %-9s %d bytes (md5 checked)\n", m.Type, len(m.Image))
			default:
				fmt.Fprintf(out, "  %-9s %s, %d bytes\n", m.Type, m.FileName, len(m.File))
			}
		}
		if want := "text markdown image file voice file markdown image"; strings.Join(types, " ") != want {
			missing++
			fmt.Fprintf(out, "  MISSING: want %q\n", want)
		}
	}
	missing += s.reportWebhooks(out)
	if s.tim != nil {
		msgs := s.tim.Messages()
		fmt.Fprintf(out, "TIM emulator received %d messages:\n", len(msgs))
		for _, m := range msgs {
			var types []string
			for _, e := range m.Elements {
				types = append(types, e.MsgType)
			}
			to := strings.Join(m.To, ",")
			if m.Group != "" {
				to = "group " + m.Group
				if len(m.GroupAt) > 0 {
					to += " @" + strings.Join(m.GroupAt, ",")
				}
			}
			fmt.Fprintf(out, "  %-34s to %-22s %s\n", m.API, to, strings.Join(types, "+"))
		}
		if len(msgs) != 7 {
			missing++
			fmt.Fprintf(out, "  MISSING: want 7 messages\n")
		}
	}
	return missing
}

// reportWebhooks prints what the DingTalk and Feishu emulators received
// and counts what is missing.
func (s *setup) reportWebhooks(out io.Writer) int {
	missing := 0
	check := func(name string, got []string, want string) {
		fmt.Fprintf(out, "%s emulator received %d messages: %s\n", name, len(got), strings.Join(got, " "))
		if strings.Join(got, " ") != want {
			missing++
			fmt.Fprintf(out, "  MISSING: want %q\n", want)
		}
	}
	if s.dt != nil {
		var types []string
		for _, m := range s.dt.Messages() {
			types = append(types, m.Type)
		}
		check("DingTalk", types, "text markdown markdown link actionCard feedCard markdown")
	}
	if s.fs != nil {
		var types []string
		for _, m := range s.fs.Messages() {
			types = append(types, m.Type)
		}
		check("Feishu", types, "text post interactive interactive share_chat image post")
	}
	return missing
}

// webhookAccounts are the DingTalk and Feishu bots: the real ones named
// by the environment, else emulators.
func (s *setup) webhookAccounts() (*dingtalk.Client, *feishu.Client, error) {
	var dt *dingtalk.Client
	var err error
	if u := os.Getenv("DINGTALK_WEBHOOK"); u != "" {
		var opts []dingtalk.Option
		if sec := os.Getenv("DINGTALK_SECRET"); sec != "" {
			opts = append(opts, dingtalk.WithSecret(sec))
		}
		dt, err = dingtalk.New(u, opts...)
		s.emulated = append(s.emulated, "real DingTalk")
	} else {
		s.dt = imtest.NewDingTalk()
		s.cleanup = append(s.cleanup, s.dt.Close)
		dt, err = dingtalk.New(s.dt.Token, dingtalk.WithBaseURL(s.dt.URL), dingtalk.WithSecret(s.dt.Secret))
		s.emulated = append(s.emulated, "DingTalk emulator")
	}
	if err != nil {
		return nil, nil, err
	}
	var fs *feishu.Client
	if u := os.Getenv("FEISHU_WEBHOOK"); u != "" {
		var opts []feishu.Option
		if sec := os.Getenv("FEISHU_SECRET"); sec != "" {
			opts = append(opts, feishu.WithSecret(sec))
		}
		if id := os.Getenv("FEISHU_APP_ID"); id != "" {
			opts = append(opts, feishu.WithApp(id, os.Getenv("FEISHU_APP_SECRET")))
		}
		fs, err = feishu.New(u, opts...)
		s.emulated = append(s.emulated, "real Feishu")
	} else {
		s.fs = imtest.NewFeishu()
		s.cleanup = append(s.cleanup, s.fs.Close)
		fs, err = feishu.New(s.fs.HookID, feishu.WithBaseURL(s.fs.URL), feishu.WithSecret(s.fs.Secret), feishu.WithApp(s.fs.AppID, s.fs.AppSecret))
		s.emulated = append(s.emulated, "Feishu emulator")
	}
	return dt, fs, err
}

func newSetup() (*setup, error) {
	s := &setup{wecomGroup: "", timUser: "alice", timGroup: "@TGS#quickstart", accounts: &accountLog{}}
	if os.Getenv("QUICKSTART_LOG") != "" {
		s.accounts.next = slog.NewTextHandler(os.Stderr, nil)
	}
	logger := slog.New(s.accounts)

	var bot *wecom.Client
	var err error
	if key := os.Getenv("WECOM_WEBHOOK_KEY"); key != "" {
		bot, err = wecom.New(key)
		s.emulated = append(s.emulated, "real WeCom")
	} else {
		s.wc = imtest.NewWeCom()
		s.cleanup = append(s.cleanup, s.wc.Close)
		bot, err = wecom.New(s.wc.Key, wecom.WithBaseURL(s.wc.URL), wecom.WithRateLimit(0))
		s.emulated = append(s.emulated, "WeCom emulator")
	}
	if err != nil {
		return nil, err
	}

	var tc *timchat.Client
	if id := os.Getenv("TIM_SDKAPPID"); id != "" {
		appID, perr := strconv.ParseUint(id, 10, 64)
		if perr != nil {
			return nil, errors.New("TIM_SDKAPPID is not a number")
		}
		tc, err = timchat.New(timchat.Config{SDKAppID: appID, SecretKey: os.Getenv("TIM_SECRET_KEY"),
			Admin: os.Getenv("TIM_ADMIN"), Region: os.Getenv("TIM_REGION")})
		if u := os.Getenv("TIM_TO_USER"); u != "" {
			s.timUser = u
		}
		s.timGroup = os.Getenv("TIM_GROUP")
		s.mediaBase = os.Getenv("TIM_MEDIA_BASE")
		s.emulated = append(s.emulated, "real Tencent Cloud IM")
	} else {
		s.tim = imtest.NewTIM(imtest.WithTIMApp(1400000000, "quickstart-secret-key", "administrator"))
		host := imtest.NewMediaHost()
		s.cleanup = append(s.cleanup, s.tim.Close, host.Close)
		tc, err = timchat.New(timchat.Config{SDKAppID: 1400000000, SecretKey: "quickstart-secret-key", Admin: "administrator", BaseURL: s.tim.URL},
			timchat.WithUploader(host))
		s.emulated = append(s.emulated, "TIM emulator")
	}
	if err != nil {
		return nil, err
	}
	dt, fs, err := s.webhookAccounts()
	if err != nil {
		return nil, err
	}
	s.client, err = middleware.NewClient(
		middleware.WithLogger(logger),
		middleware.WithAccount(middleware.Account{ID: "dingtalk-ops", IM: dingtalk.IM, Default: true, Backend: dt}),
		middleware.WithAccount(middleware.Account{ID: "feishu-ops", IM: feishu.IM, Default: true, Backend: fs}),
		middleware.WithAccount(middleware.Account{ID: "wecom-default", IM: "wecom", Default: true, Backend: bot}),
		middleware.WithAccount(middleware.Account{ID: "wecom-ops", IM: "wecom", Backend: bot}),
		middleware.WithAccount(middleware.Account{ID: "tim-admin", IM: "tim", Default: true, Backend: tc}),
	)
	return s, err
}

// writeSamples makes the media the quickstart pushes.
func writeSamples(dir string) (map[string]string, error) {
	chart := image.NewRGBA(image.Rect(0, 0, 120, 60))
	for x := range 120 {
		for y := 60 - x/2; y < 60; y++ {
			chart.Set(x, y, color.RGBA{R: 30, G: 144, B: 255, A: 255})
		}
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, chart); err != nil {
		return nil, err
	}
	var thumbBuf bytes.Buffer
	if err := png.Encode(&thumbBuf, chart.SubImage(image.Rect(0, 0, 40, 30))); err != nil {
		return nil, err
	}
	samples := map[string]struct {
		name string
		data []byte
	}{
		"chart": {"chart.png", pngBuf.Bytes()},
		"thumb": {"thumb.png", thumbBuf.Bytes()},
		"csv":   {"daily.csv", []byte("date,deploys,incidents\n2026-11-27,3,0\n")},
		"amr":   {"notice.amr", append([]byte("#!AMR\n"), bytes.Repeat([]byte{0x3c, 0x48, 0xf5, 0x1f}, 50)...)},
		"mp4":   {"demo.mp4", append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 256)...)},
	}
	out := map[string]string{}
	for k, v := range samples {
		p := filepath.Join(dir, v.name)
		if err := os.WriteFile(p, v.data, 0o600); err != nil {
			return nil, err
		}
		out[k] = p
	}
	return out, nil
}
