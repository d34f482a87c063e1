// Package timchat is a middleware.Backend for the Tencent Cloud IM (TIM,
// "Chat") server REST API.
//
// Routing: groupCode sends a group message (send_group_msg), one request
// per group; userID sends a one-to-one message (sendmsg), several
// "|"-joined users a batch (batchsendmsg, 500 per call). Both: a group
// message that @-mentions the users. Neither: ErrInvalidTarget, unless the
// Broadcast option asks for v4/timpush/push.
//
// Every request is signed with a UserSig v2 made in-house from the secret
// key, cached and renewed ahead of expiry. Transient failures are retried
// with the same MsgRandom, MsgSeq and Random, so the server drops the
// duplicates; the query's random is fresh for every request.
//
// TIM cannot receive uploads: media elements carry URLs that clients
// download. http(s) sources are used as they are; local paths, base64 and
// Item.Data need an Uploader (WithUploader), such as PresignedPutUploader.
//
// The secret key and usersigs never appear in an error, a log record or the
// formatted Client.
package timchat
