// Package dingtalk is the middleware backend of DingTalk (钉钉) custom
// robots: the webhook a group's robot settings show,
// https://oapi.dingtalk.com/robot/send?access_token=TOKEN.
//
//	bot, err := dingtalk.New(os.Getenv("DINGTALK_WEBHOOK"), dingtalk.WithSecret(os.Getenv("DINGTALK_SECRET")))
//	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: dingtalk.IM, Default: true, Backend: bot}))
//	n, err := c.Push(ctx, dingtalk.IM, "", "", "Deploy", "v1.4.2 is live")
//
// A robot posts only into the group it was added to, so groupCode stays
// empty; userID mentions its users (atUserIds). Text goes out as a text
// message, or markdown with Markdown(); Link, ActionCard and FeedCard make
// a Push one of those cards. Images go in as markdown from http(s) URLs (a
// robot cannot upload); files, voice and video are ErrUnsupported.
//
// What DingTalk refuses inside an HTTP 200 is an *middleware.APIError with
// its errcode: ErrUnauthorized for the security settings (310000: keyword,
// signature or IP) and a wrong token, ErrRateLimited with RetryAfter for
// the ten-minute throttle (130101, 410100), ErrTooLarge past BodyLimit.
// The client paces each robot at 20 messages a minute (a Limiter, shared
// through Redis with package redisstate) and, once throttled, refuses
// sends to the robot until the block ends. A request that may have been
// posted is never retried: DingTalk's msgUuid is sent with an idempotency
// key, but how long DingTalk remembers it is not documented.
//
// Keywords are checked per message: when a long text is split, each part
// must hold a keyword, which the SDK cannot know: keep such texts under
// BodyLimit, or use NoSplit to be told instead.
package dingtalk
