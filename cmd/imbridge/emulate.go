package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
)

// emulateFlags are emulate's flags.
type emulateFlags struct {
	envFile  string
	drop     int
	rate     int
	key      string
	port     int
	secret   string
	timUsers string
	timFail  []int
}

func (e *emulateFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&e.envFile, "env-file", "", "also write the URLs to this file, as KEY=VALUE lines (for scripts)")
	fs.IntVar(&e.drop, "drop-after-read", 0, "process the first N WeCom sends, and the first N TIM requests after any --tim-fail, then drop their connections unanswered (a 'may have been delivered')")
	fs.IntVar(&e.rate, "wecom-rate", 20, "WeCom messages a minute per chat before 45009 (0: no limit); 20, the SDK's pace and the limit many bots still meet")
	fs.StringVar(&e.key, "wecom-key", "", "the webhook key the WeCom emulator answers to (default: a random one)")
	fs.IntVar(&e.port, "port", 0, "listen on fixed loopback ports: WeCom on PORT, TIM on PORT+1, its media host on PORT+2, DingTalk on PORT+3, Feishu on PORT+4 (default: random ports)")
	fs.StringVar(&e.secret, "tim-secret", "", "the secret key the TIM emulator answers to, with SDKAppID 1400000000 (default: a random app)")
	fs.StringVar(&e.timUsers, "tim-users", "", "the only TIM user ids the emulator knows, comma-separated; others are refused with 20003 (default: any id)")
	fs.IntSliceVar(&e.timFail, "tim-fail", nil, "answer the next TIM requests with these error codes, one each, in order (repeatable; 10023: rate limited, 70001: usersig refused)")
}

// listeners are emulate's five listeners: none (random ports) without
// --port, else PORT to PORT+4 on loopback, all or nothing.
// A port out of range is a usage error; one in use fails otherwise.
func (e *emulateFlags) listeners() ([]net.Listener, int, error) {
	if e.port == 0 {
		return make([]net.Listener, 5), exitOK, nil
	}
	if e.port < 1 || e.port > 65535-4 {
		return nil, exitUsage, fmt.Errorf("--port %d: a port from 1 to 65531 (five in a row are used)", e.port)
	}
	out := make([]net.Listener, 0, 5)
	for i := range 5 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.port+i)))
		if err != nil {
			for _, o := range out {
				_ = o.Close()
			}
			return nil, exitFailed, fmt.Errorf("--port %d: %w", e.port, err)
		}
		out = append(out, l)
	}
	return out, exitOK, nil
}

// emulate runs the WeCom, TIM, DingTalk and Feishu emulators and a media
// host on loopback, prints the account URLs that reach them, and logs
// every message they accept until ctx ends (Ctrl-C).
func emulate(ctx context.Context, e *emulateFlags, stdout, stderr io.Writer) int {
	envFile, drop, rate, key := &e.envFile, &e.drop, &e.rate, &e.key
	ls, code, err := e.listeners()
	if err != nil {
		fmt.Fprintln(stderr, "imbridge emulate:", err)
		return code
	}
	wopts := []imtest.WeComOption{imtest.WithWeComRate(*rate), imtest.WithWeComListener(ls[0])}
	if *key != "" {
		wopts = append(wopts, imtest.WithWeComKey(*key))
	}
	wc := imtest.NewWeCom(wopts...)
	defer wc.Close()
	topts := []imtest.TIMOption{imtest.WithTIMListener(ls[1])}
	if e.secret != "" {
		topts = append(topts, imtest.WithTIMApp(1400000000, e.secret, "administrator"))
	}
	tim := imtest.NewTIM(topts...)
	defer tim.Close()
	host := imtest.NewMediaHost(imtest.WithMediaHostListener(ls[2]))
	defer host.Close()
	dt := imtest.NewDingTalk(imtest.WithDingTalkListener(ls[3]))
	defer dt.Close()
	fsu := imtest.NewFeishu(imtest.WithFeishuListener(ls[4]))
	defer fsu.Close()
	if e.timUsers != "" {
		tim.AddUsers(strings.Split(e.timUsers, ",")...)
	}
	for _, code := range e.timFail {
		tim.Faults.FailNext(1, code)
	}
	if *drop > 0 {
		wc.DropAfterRead(*drop)
		tim.Faults.DropAfterRead(*drop)
	}
	env := []string{
		"WECOM_URL=wecom://" + wc.Key + "?base=" + url.QueryEscape(wc.URL),
		"TIM_URL=tim://" + tim.Admin + ":" + tim.SecretKey + "@" + strconv.FormatUint(tim.SDKAppID, 10) + "?base=" + url.QueryEscape(tim.URL) +
			"&upload=" + url.QueryEscape(host.URL+"/media"),
		"MEDIA_HOST=" + host.URL,
		"DINGTALK_URL=dingtalk://" + dt.Token + "?secret=" + url.QueryEscape(dt.Secret) + "&base=" + url.QueryEscape(dt.URL),
		"FEISHU_URL=feishu://" + fsu.HookID + "?secret=" + url.QueryEscape(fsu.Secret) + "&app_id=" + url.QueryEscape(fsu.AppID) +
			"&app_secret=" + url.QueryEscape(fsu.AppSecret) + "&base=" + url.QueryEscape(fsu.URL),
	}
	fmt.Fprintln(stdout, "imbridge emulate: the WeCom, TIM, DingTalk and Feishu emulators listen on loopback; Ctrl-C stops them.")
	for _, e := range env {
		fmt.Fprintln(stdout, e)
	}
	if *envFile != "" {
		// The emulator's credentials too, for scripts that check that no
		// output of theirs ever shows them.
		all := append(env, "WECOM_KEY="+wc.Key, "TIM_SECRET="+tim.SecretKey, "DINGTALK_BASE="+dt.URL, "DINGTALK_TOKEN="+dt.Token, "DINGTALK_SECRET="+dt.Secret,
			"FEISHU_HOOK="+fsu.HookID, "FEISHU_SECRET="+fsu.Secret, "FEISHU_APP_SECRET="+fsu.AppSecret)
		if err := os.WriteFile(*envFile, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
			fmt.Fprintln(stderr, "imbridge emulate:", err)
			return exitFailed
		}
	}
	seen := &seenCounts{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			logAccepted(stdout, wc, tim, &seen.w, &seen.t)
			logWebhooks(stdout, dt, fsu, seen)
			fmt.Fprintln(stdout, "imbridge emulate: stopped")
			return exitOK
		case <-tick.C:
			logAccepted(stdout, wc, tim, &seen.w, &seen.t)
			logWebhooks(stdout, dt, fsu, seen)
		}
	}
}

// logAccepted prints the messages accepted since the last call.
func logAccepted(out io.Writer, wc *imtest.WeCom, tim *imtest.TIM, seenW, seenT *int) {
	msgs := wc.Messages()
	for _, m := range msgs[*seenW:] {
		what := fmt.Sprintf("%q", m.Content)
		if m.FileName != "" {
			what = fmt.Sprintf("%s, %d bytes", m.FileName, len(m.File))
		} else if m.Image != nil {
			what = fmt.Sprintf("image, %d bytes", len(m.Image))
		}
		fmt.Fprintf(out, "wecom %-9s to %-12s %s\n", m.Type, orSelf(m.ChatID), what)
	}
	*seenW = len(msgs)
	tmsgs := tim.Messages()
	for _, m := range tmsgs[*seenT:] {
		to := strings.Join(m.To, "|")
		if m.Group != "" {
			to = "group " + m.Group
		} else if m.Broadcast {
			to = "everyone"
		}
		var parts []string
		for _, e := range m.Elements {
			if te, ok := e.MsgContent.(*timchat.TextElem); ok {
				parts = append(parts, fmt.Sprintf("%q", te.Text))
				continue
			}
			parts = append(parts, e.MsgType)
		}
		if len(m.GroupAt) > 0 {
			parts = append(parts, "mentions "+strings.Join(m.GroupAt, ","))
		}
		if m.Offline != nil && m.Offline.Title != "" {
			parts = append(parts, fmt.Sprintf("title %q", m.Offline.Title))
		}
		fmt.Fprintf(out, "tim   %-9s to %-12s %s\n", m.API, to, strings.Join(parts, " + "))
	}
	*seenT = len(tmsgs)
}

func orSelf(chat string) string {
	if chat == "" {
		return "(own group)"
	}
	return chat
}

// seenCounts are the messages of each emulator logged so far.
type seenCounts struct{ w, t, d, f int }

// logWebhooks prints the DingTalk and Feishu messages accepted since the
// last call.
func logWebhooks(out io.Writer, dt *imtest.DingTalk, fs *imtest.Feishu, seen *seenCounts) {
	dmsgs := dt.Messages()
	for _, m := range dmsgs[seen.d:] {
		fmt.Fprintf(out, "dingtalk %-9s %q\n", m.Type, firstNonEmpty(m.Text, m.Title))
	}
	seen.d = len(dmsgs)
	fmsgs := fs.Messages()
	for _, m := range fmsgs[seen.f:] {
		what := fmt.Sprintf("%q", firstNonEmpty(m.Text, m.Title, m.ShareChatID))
		if len(m.Images) > 0 {
			what += fmt.Sprintf(" (%d image(s))", len(m.Images))
		}
		fmt.Fprintf(out, "feishu   %-9s %s\n", m.Type, what)
	}
	seen.f = len(fmsgs)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
