// Package feishu is the middleware backend of Feishu (飞书) and Lark custom
// bots: the webhook a group's bot settings show,
// https://open.feishu.cn/open-apis/bot/v2/hook/HOOK_ID (Lark:
// https://open.larksuite.com/...).
//
//	bot, err := feishu.New(os.Getenv("FEISHU_WEBHOOK"), feishu.WithSecret(os.Getenv("FEISHU_SECRET")))
//	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: feishu.IM, Default: true, Backend: bot}))
//	n, err := c.Push(ctx, feishu.IM, "", "", "Deploy", "v1.4.2 is live")
//
// A bot posts only into the group it was added to, so groupCode stays
// empty; userID mentions its users, by open_id. Text goes out as a text
// message; Post() sends rich text (what PushMixed sends), Markdown() a card
// of lark_md, Card and ShareChat those types. Images need an app of the
// tenant to upload them (WithApp); without one an image is ErrUnsupported.
// Files, voice and video are ErrUnsupported.
//
// What Feishu refuses inside an HTTP 200 is an *middleware.APIError with
// its code: ErrUnauthorized for a wrong hook id (19001), a refused
// signature (19021) or IP (19022), ErrInvalidItem for a missing keyword
// (19024), ErrRateLimited for 11232, which is waited out once. The client
// paces each bot at 100 messages a minute and 5 a second (a Limiter,
// shared through Redis with package redisstate). A request that may have
// been posted is never retried: custom bots have no idempotency field.
package feishu
