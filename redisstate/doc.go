// Package redisstate shares the SDK's rate budgets and WeCom's media cache
// between the processes that push as the same bot or app, through Redis
// (any redis.UniversalClient: a single server, Cluster, Sentinel, Valkey).
//
// Each replica of a service paces itself otherwise, so N replicas send N
// times the budget and meet WeCom's 45009 or TIM's 90024, and each uploads
// the same file again. With this package:
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"redis:6379"}})
//	limits, err := redisstate.NewLimiter(rdb)
//	media, err := redisstate.NewMediaCache(rdb)
//	bot, err := wecom.New(key, wecom.WithLimiter(limits), wecom.WithMediaCache(media))
//	tim, err := timchat.New(cfg, timchat.WithLimiter(limits))
//
// The limiter keeps a sliding-window log per budget in a sorted set, and
// books a send in one Lua script, so one round trip per push, atomic across
// processes, on the Redis server's clock (the replicas' clocks do not
// matter). A sliding log, rather than GCRA with a burst, because WeCom does
// not say whether its minute is fixed or sliding: no window of the budget's
// length, wherever it starts, holds more than the budget, so a burst never
// passes the limit across a window edge.
//
// Keys name a bot or an app by a hash, never by its secret, and carry a
// Cluster hash tag, so every budget of one bot lives in one slot.
//
// When Redis fails (down, slow past WithTimeout), a push is never blocked
// past its deadline and never lost silently: by default the limiter falls
// back to an in-memory limiter of this process (FallbackLocal; logged once
// per outage, not per push), or, with WithFallback(FallbackRefuse), it
// refuses with middleware.ErrRateLimited. The media cache falls back to
// uploading.
//
// This package is in the root module but outside the library's import
// graph: code that does not import it never compiles go-redis.
package redisstate
