// Package middleware pushes messages proactively from Go bot code to chat
// platforms: daily reports, alerts, cron jobs and cross-platform relays.
//
// autClaw is a self-hosted chat-bot runtime whose plugins push with six
// helpers; this package offers the same six to Go — Push, PushImage,
// PushVoice, PushVideo, PushFile and PushMixed — with a context first and
// functional options last. Each call picks the sending account by autClaw's
// five selection rules (explicit account, the account a message came in on,
// the IM's default, the default for cross-IM pushes, the first online one:
// see [Client.Resolve]), validates every argument before any network I/O,
// and hands a [Message] to the account's [Backend]. The backends live in
// their own packages: wecom (WeCom group-bot webhook), timchat (Tencent
// Cloud IM REST), dingtalk (DingTalk custom robot) and feishu (Feishu/Lark
// custom bot). This package imports neither; wire them together in main:
//
//	bot, err := wecom.New(os.Getenv("WECOM_WEBHOOK_KEY"))
//	if err != nil { ... }
//	tim, err := timchat.New(timchat.Config{SDKAppID: 1400000000,
//		SecretKey: os.Getenv("TIM_SECRET_KEY"), Admin: "administrator", Region: "singapore"})
//	if err != nil { ... }
//	c, err := middleware.NewClient(
//		middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}),
//		middleware.WithAccount(middleware.Account{ID: "tim-admin", IM: timchat.IM, Default: true, Backend: tim}),
//	)
//	n, err := c.Push(ctx, wecom.IM, "", "", "Daily report", "All green")
//	n, err = c.Push(ctx, timchat.IM, "@TGS#ops", "", "Daily report", "All green")
//
// The package-level helpers (Push, PushImage, ...) call the client returned
// by [Default], which starts empty; [SetDefault] replaces it. They exist for
// scripts and plugins. Services should build their own *Client with
// [NewClient] and pass it down, so that tests can give them another one.
//
// Every helper returns the number of targets reached and an error. The Go SDK
// never reports a failure as a bare zero: err == nil implies n >= 1, and
// n == 0 implies err != nil. A partial delivery returns n >= 1 together with
// a *[PartialError] that says what was delivered.
//
// A Client is safe for concurrent use, including AddAccount, RemoveAccount
// and SetOnline while pushes are in flight.
//
// Package outbox queues pushes instead of sending them: its enqueue
// methods check them as the helpers do ([Client.Check]) and return a job
// id, and its Run delivers them under the platforms' budgets, merging
// texts that wait, from memory or from Redis (package redisstate) shared
// by replicas. A push is also a value, [Request], that [Client.Do] sends.
package middleware
