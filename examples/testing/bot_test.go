package deploybot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/jarcoal/httpmock"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/wecom"
)

// With httpmock.Activate, a wecom.Client built without WithHTTPClient is
// intercepted: no wiring beyond the usual httpmock setup. Not parallel:
// Activate swaps http.DefaultTransport. (httpmock.ActivateNonDefault does
// the same for a client you pass with wecom.WithHTTPClient.)
func TestNotifyDeployWithHTTPMock(t *testing.T) {
	httpmock.Activate(t)
	// The body as WeCom documents it.
	var got struct {
		MsgType string `json:"msgtype"`
		Text    struct {
			Content       string   `json:"content"`
			MentionedList []string `json:"mentioned_list"`
		} `json:"text"`
	}
	httpmock.RegisterResponder("POST", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
		func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &got); err != nil {
				return nil, err
			}
			return httpmock.NewStringResponse(200, `{"errcode":0,"errmsg":"ok"}`), nil
		})

	bot, err := wecom.New("test-key")
	if err != nil {
		t.Fatal(err)
	}
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Backend: bot}))
	if err != nil {
		t.Fatal(err)
	}
	if err := NotifyDeploy(context.Background(), c, "api", "v1.2.3", "zhangsan"); err != nil {
		t.Fatal(err)
	}
	if n := httpmock.GetTotalCallCount(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if got.MsgType != "text" || got.Text.Content != "api v1.2.3 is live" {
		t.Errorf("sent %+v", got)
	}
	if ids := got.Text.MentionedList; len(ids) != 1 || ids[0] != "zhangsan" {
		t.Errorf("mentioned_list = %v", ids)
	}

	// A platform error reaches the caller as a category.
	httpmock.RegisterResponder("POST", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
		httpmock.NewStringResponder(200, `{"errcode":93000,"errmsg":"invalid webhook url"}`))
	err = NotifyDeploy(context.Background(), c, "api", "v1.2.4", "zhangsan")
	if !errors.Is(err, middleware.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

// With imtest.Recorder there is no HTTP: assert on what the bot asked for.
func TestNotifyDeployWithRecorder(t *testing.T) {
	t.Parallel()
	rec := imtest.NewRecorder()
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Backend: rec}))
	if err != nil {
		t.Fatal(err)
	}
	if err := NotifyDeploy(context.Background(), c, "web", "v9", "lisi"); err != nil {
		t.Fatal(err)
	}
	m, ok := rec.Last()
	if !ok {
		t.Fatal("nothing recorded")
	}
	if m.AccountID != "ops" || m.GroupCode != "" || m.Texts()[0] != "web v9 is live" {
		t.Errorf("recorded %+v", m)
	}
	// What the bot asked of WeCom, read back as plain values.
	o := wecom.OptionsOf(m.Message())
	if len(o.Mentions) != 1 || o.Mentions[0] != "lisi" || o.Format != "" {
		t.Errorf("wecom options %+v, want a text message mentioning lisi", o)
	}
}
