// Package gateway is imbridge serve: an alert gateway from Alertmanager's
// and Grafana's webhooks (and plain sends) to WeCom, Tencent Cloud IM,
// DingTalk and Feishu, built on the outbox.
//
// It answers 200 only once a notification is queued durably (in the
// store: Redis, with redisstate, for a promise that outlives the process),
// 503 when it cannot queue it (the sender retries) and 4xx only for what
// would never succeed. It writes one message per alert group and
// notification (the built-in digest, or a route's template), splits one
// longer than the platform takes at line breaks with part markers, never
// cutting it, and lets the outbox pace and merge a flood under the budget.
// Alertmanager's HA peers each send every notification; the replicas keep
// shared dedup marks (redisstate.Marks) so that the chat sees it once.
//
// See docs/gateway.md.
package gateway
