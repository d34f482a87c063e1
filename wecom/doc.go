// Package wecom is a middleware.Backend for a WeCom (企业微信) group-bot
// webhook.
//
// How the helpers map:
//
//   - Push sends a text message (2048 bytes); longer text is split on rune
//     boundaries, preferring line breaks, into several messages sent in
//     order. NoSplit makes it ErrTooLarge instead. Markdown and MarkdownV2
//     switch to markdown (4096 bytes, split on block boundaries).
//   - PushImage sends a JPG or PNG of at most 2 MB as an image message
//     (base64 and md5 of the raw bytes, computed in one pass). GIF, WebP,
//     other formats and larger images are uploaded and sent as a file.
//   - PushVoice uploads an AMR of at most 2 MB as voice; other audio goes as a
//     file. PushVideo sends a file: WeCom has no video message.
//   - PushFile uploads a file of 6 B to 20 MB, streamed, and sends it.
//   - PushMixed joins consecutive text and markdown items into one markdown
//     message and sends media in order. When a send fails part-way, the
//     error is a *middleware.PartialError listing the delivered items.
//
// Titles: WeCom messages have no title field, so the helpers' title is not
// shown (it names the push in logs, and is the text of a Push whose content
// is empty). TitleAsHeading shows it as the first heading of a markdown
// push.
//
// Typed sends cover what no helper does: SendNews, SendTemplateCard and
// SendMiniProgram, validated against the documented limits.
//
// Targets: groupCode and userID become chatid ("|"-joined, up to 100 ids,
// one request; more is ErrInvalidTarget). Both given: the message goes
// to the group and mentions the user. Neither: the bot's own group.
//
// WeCom does not deduplicate, so a send is retried only when it provably did
// not arrive: errcode -1 and 45033, and connection failures that net/http
// shows happened before the request was written. A failure after the request may have arrived wraps
// middleware.ErrMaybeDelivered and is not retried.
//
// The webhook key is a bearer secret. It never appears in an error, a log
// record or the formatted Client.
package wecom
