// Package middleware pushes messages proactively from Go bot code to chat
// platforms: daily reports, alerts, cron jobs and cross-platform relays.
//
// It mirrors the six "proactive push" helpers of the autClaw runtime — Push,
// PushImage, PushVoice, PushVideo, PushFile and PushMixed — with a context
// first and functional options last. Each call picks the sending account with
// the five selection rules (see [Client.Resolve]), validates every argument
// before any network I/O, and hands a [Message] to the account's [Backend].
// The backends live in their own packages: wecom (WeCom group-bot webhook)
// and timchat (Tencent Cloud IM REST). This package imports neither; wire
// them together in main:
//
//	bot, err := wecom.New(os.Getenv("WECOM_WEBHOOK_KEY"))
//	if err != nil { ... }
//	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{
//		ID: "ops", IM: "wecom", Default: true, Backend: bot,
//	}))
//	n, err := c.Push(ctx, "wecom", "", "", "Daily report", "All green")
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
package middleware
