package wecom_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/wecom"
)

func ExampleNew() {
	wc := imtest.NewWeCom() // stands in for qyapi.weixin.qq.com
	defer wc.Close()

	// Pass the key or the whole webhook URL; WithBaseURL points at the emulator.
	bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL))
	if err != nil {
		panic(err)
	}
	c, _ := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: "wecom", Default: true, Backend: bot}))

	ctx := context.Background()
	n, err := c.Push(ctx, "wecom", "", "zhangsan", "", "**Deploy done**", wecom.Markdown())
	fmt.Println(n, err)
	_, err = c.Push(ctx, "wecom", "", "", "", "x", wecom.MarkdownV2(), wecom.Mention("lisi"))
	fmt.Println(errors.Is(err, middleware.ErrUnsupported))

	for _, m := range wc.Messages() {
		fmt.Printf("%s to %q: %q\n", m.Type, m.ChatID, m.Content)
	}
	// Output:
	// 1 <nil>
	// true
	// markdown to "zhangsan": "**Deploy done**"
}

func ExampleClient_SendNews() {
	wc := imtest.NewWeCom()
	defer wc.Close()
	bot, _ := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL)) // the emulator is http://: name it explicitly
	n, err := bot.SendNews(context.Background(), wecom.Target{ChatIDs: []string{"wrkGroup"}},
		wecom.Article{Title: "Release 1.2", URL: "https://example.com/notes", Description: "faster pushes"})
	fmt.Println(n, err, wc.Messages()[0].Type)
	// Output: 1 <nil> news
}
