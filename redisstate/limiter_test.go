package redisstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/honesty"
	"github.com/imbridge/middleware/wecom"
)

// Two limiters on one Redis, as two processes would have: one budget.
func TestLimiterSharesOneBudget(t *testing.T) {
	t.Parallel()
	rdb, p := client(t), prefix(t)
	// Generous bounds: a loaded machine must not turn a slow answer into
	// the fallback.
	a, b := newLimiter(t, rdb, WithPrefix(p), WithTimeout(10*time.Second)), newLimiter(t, rdb, WithPrefix(p), WithTimeout(10*time.Second))
	budget := []middleware.Budget{{Key: "{wecom:x}:chat:1", Limit: 5, Window: time.Minute}}
	var booked atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := l.Reserve(context.Background(), budget, 0)
			assert.NoError(t, err)
			if r.OK {
				booked.Add(1)
			} else {
				assert.InDelta(t, time.Minute.Seconds(), r.Delay.Seconds(), 2, "the next slot is a window after the first")
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(5), booked.Load())
}

// The server's sliding window, bookings ahead included, all or none.
func TestLimiterSlidingWindowAndCancel(t *testing.T) {
	t.Parallel()
	rdb, p := client(t), prefix(t)
	l := newLimiter(t, rdb, WithPrefix(p), WithTimeout(10*time.Second))
	ctx := context.Background()
	chat := middleware.Budget{Key: "{b}:chat", Limit: 2, Window: 10 * time.Second}
	bot := middleware.Budget{Key: "{b}:bot", Limit: 3, Window: 10 * time.Second}
	for range 2 {
		r, err := l.Reserve(ctx, []middleware.Budget{chat, bot}, 0)
		require.NoError(t, err)
		require.True(t, r.OK)
	}
	// The third waits for the window: booked ahead, then given back.
	r, err := l.Reserve(ctx, []middleware.Budget{chat, bot}, -1)
	require.NoError(t, err)
	require.True(t, r.OK)
	assert.Greater(t, r.Delay, 9*time.Second, "a window after the first of the two")
	assert.Equal(t, int64(3), rdb.ZCard(ctx, p+":"+chat.Key).Val())
	r.Cancel()
	assert.Equal(t, int64(2), rdb.ZCard(ctx, p+":"+chat.Key).Val(), "given back")
	// Another chat still has room, but the bot has one slot left: all or
	// none.
	other := middleware.Budget{Key: "{b}:chat2", Limit: 5, Window: 10 * time.Second}
	r, err = l.Reserve(ctx, []middleware.Budget{other, bot}, 0)
	require.NoError(t, err)
	require.True(t, r.OK)
	r, err = l.Reserve(ctx, []middleware.Budget{other, bot}, 0)
	require.NoError(t, err)
	assert.False(t, r.OK, "the bot's budget is spent")
	assert.Equal(t, int64(1), rdb.ZCard(ctx, p+":"+other.Key).Val(), "nothing booked in the chat when the bot refuses")
	// Keys expire by themselves.
	ttl := rdb.PTTL(ctx, p+":"+chat.Key).Val()
	assert.Greater(t, ttl, time.Duration(0))
	assert.Less(t, ttl, 25*time.Second, "the window, the wait booked, and a second")
}

// One round trip to Redis per push.
func TestOneRoundTripPerPush(t *testing.T) {
	t.Parallel()
	opts := &redis.UniversalOptions{Addrs: []string{redisAddr(t)}}
	rdb := redis.NewUniversalClient(opts)
	t.Cleanup(func() { rdb.Close() })
	var cc commandCounter
	rdb.AddHook(&cc)
	wc := imtest.NewWeCom(imtest.WithWeComRate(0))
	t.Cleanup(wc.Close)
	// A generous bound: a loaded machine must not turn a slow answer into
	// the fallback, which asks Redis nothing.
	bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(1000),
		wecom.WithLimiter(newLimiter(t, rdb, WithPrefix(prefix(t)), WithTimeout(10*time.Second))))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Backend: bot}))
	require.NoError(t, err)
	_, err = c.Push(context.Background(), wecom.IM, "g", "", "", "warm up: loads the script")
	require.NoError(t, err)
	cc.n.Store(0)
	const pushes = 50
	for i := range pushes {
		_, err := c.Push(context.Background(), wecom.IM, "g", "", "", "push "+string(rune('a'+i%26)))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(pushes), cc.n.Load(), "Redis commands for %d pushes", pushes)
}

// recordLog counts the records of a logger.
type recordLog struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *recordLog) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recordLog) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recordLog) WithGroup(string) slog.Handler      { return r }

// Redis paused, then back, then killed, in the middle of a run of pushes:
// with the default fallback every push goes on (to the in-memory limiter),
// none runs into its deadline, and each outage is logged once.
func TestRedisOutageFallsBackLocal(t *testing.T) {
	t.Parallel()
	srv := ownServer(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.addr}, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	logs := &recordLog{}
	wc := imtest.NewWeCom(imtest.WithWeComRate(0))
	t.Cleanup(wc.Close)
	bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(1000),
		wecom.WithLimiter(newLimiter(t, rdb, WithPrefix(prefix(t)), WithLogger(slog.New(logs)),
			WithTimeout(time.Second), WithRetryAfterOutage(2*time.Second))))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Backend: bot}))
	require.NoError(t, err)
	push := func(phase string, i int) {
		n, err := c.Push(context.Background(), wecom.IM, "g", "", "", phase+" "+string(rune('a'+i)), middleware.WithTimeout(3*time.Second))
		require.NoError(t, err, "%s push %d", phase, i)
		require.Equal(t, 1, n)
	}
	for i := range 5 {
		push("up", i)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGSTOP)) // hangs: the first call runs into WithTimeout, the rest skip Redis
	for i := range 5 {
		push("paused", i)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGCONT))
	time.Sleep(2100 * time.Millisecond) // past the cooldown: Redis is asked again
	for i := range 5 {
		push("back", i)
	}
	require.NoError(t, srv.cmd.Process.Kill())
	for i := range 5 {
		push("killed", i)
	}
	assert.Len(t, wc.Messages(), 20, "every push went out")
	// Once per outage, never per push: outage and recovery alternate,
	// from the pause to the kill (a load spike could add a pair, never a
	// record per push).
	logs.mu.Lock()
	defer logs.mu.Unlock()
	require.GreaterOrEqual(t, len(logs.msgs), 3, "%v", logs.msgs)
	require.Equal(t, 1, len(logs.msgs)%2, "%v", logs.msgs)
	for i, m := range logs.msgs {
		want := "Redis does not answer"
		if i%2 == 1 {
			want = "Redis answers again"
		}
		assert.Contains(t, m, want, "record %d of %v", i, logs.msgs)
	}
}

// With FallbackRefuse, pushes are refused while Redis is away: never over
// the budget, never blocked, never lost silently.
func TestRedisOutageRefuses(t *testing.T) {
	t.Parallel()
	srv := ownServer(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.addr}, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	wc := imtest.NewWeCom(imtest.WithWeComRate(0))
	t.Cleanup(wc.Close)
	bot, err := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(1000),
		wecom.WithLimiter(newLimiter(t, rdb, WithPrefix(prefix(t)), WithFallback(FallbackRefuse))))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "b", IM: wecom.IM, Backend: bot}))
	require.NoError(t, err)
	_, err = c.Push(context.Background(), wecom.IM, "g", "", "", "before")
	require.NoError(t, err)
	srv.stop()
	for i := range 3 {
		_, err := c.Push(context.Background(), wecom.IM, "g", "", "", "during "+string(rune('a'+i)), middleware.WithTimeout(time.Second))
		require.ErrorIs(t, err, middleware.ErrRateLimited)
		require.False(t, errors.Is(err, context.DeadlineExceeded))
		var le *middleware.LimitError
		require.ErrorAs(t, err, &le)
	}
	assert.Len(t, wc.Messages(), 1, "nothing sent while refusing")
}

func TestMediaCacheLock(t *testing.T) {
	t.Parallel()
	rdb, p := client(t), prefix(t)
	a, b := newMediaCache(t, rdb, WithPrefix(p)), newMediaCache(t, rdb, WithPrefix(p))
	ctx := context.Background()
	unlock, ok, err := a.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, err = b.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "held by another process")
	_, _, found := b.Get(ctx, "k")
	assert.False(t, found)
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	a.Put(ctx, "k", "MEDIA1", at)
	unlock()
	id, got, found := b.Get(ctx, "k")
	require.True(t, found)
	assert.Equal(t, "MEDIA1", id)
	assert.True(t, at.Equal(got))
	ttl := rdb.TTL(ctx, a.key("id", "k")).Val()
	assert.InDelta(t, (wecom.MediaTTL - wecom.CacheMargin - time.Hour).Seconds(), ttl.Seconds(), 5, "expires when too old to send")
	_, ok, err = b.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "unlocked")
	b.Delete(ctx, "k")
	_, _, found = a.Get(ctx, "k")
	assert.False(t, found)
	// Keys hold no file name, no bot key: hashes only.
	keys := rdb.Keys(ctx, p+":*").Val()
	for _, k := range keys {
		assert.NotContains(t, k, ":k")
	}
}

// bounded returns f's answer, never a context error for a call that
// succeeded (it once cancelled its own context as f returned, and select
// picked either case at random).
func TestBoundedKeepsAnswers(t *testing.T) {
	t.Parallel()
	c, err := newConfig(redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}}), []Option{WithTimeout(time.Second)})
	require.NoError(t, err)
	for range 2000 {
		require.NoError(t, c.bounded(context.Background(), func(context.Context) error { return nil }))
	}
	// A hung server, and a client that does not heed contexts (go-redis
	// without ContextTimeoutEnabled): f returns only after bounded did.
	release := make(chan struct{})
	err = c.bounded(context.Background(), func(context.Context) error {
		<-release
		return nil
	})
	close(release)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestBadOptionsAreRefused: a value an option cannot take is an error of
// every constructor, naming the option, never ignored.
func TestBadOptionsAreRefused(t *testing.T) {
	t.Parallel()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}})
	defer rdb.Close()
	for name, opt := range map[string]Option{
		"WithPrefix": WithPrefix(""), "WithFallback": WithFallback(7), "WithTimeout": WithTimeout(0),
		"WithRetryAfterOutage": WithRetryAfterOutage(-time.Second), "WithShards": WithShards(0),
		"WithClaimTimeout": WithClaimTimeout(0), "WithRetention": WithRetention(-1),
	} {
		_, err := NewLimiter(rdb, opt)
		require.ErrorIs(t, err, middleware.ErrInvalidOption, name)
		assert.Contains(t, err.Error(), name)
		_, err = NewMediaCache(rdb, opt)
		require.ErrorIs(t, err, middleware.ErrInvalidOption, name)
		_, err = NewOutboxStore(context.Background(), rdb, opt)
		require.ErrorIs(t, err, middleware.ErrInvalidOption, name)
	}
	_, err := NewLimiter(nil)
	require.ErrorIs(t, err, middleware.ErrInvalidOption)
}

// TestLimiterHygiene is finding 8 of the time-honesty issue.
func TestLimiterHygiene(t *testing.T) {
	ctx := context.Background()
	budget := func(key string) []middleware.Budget {
		return []middleware.Budget{{Key: key, Limit: 5, Window: 10 * time.Second}}
	}

	t.Run("a call abandoned in a stall gives back what it booked", func(t *testing.T) {
		rdb := client(t)
		p := prefix(t)
		l := newLimiter(t, rdb, WithPrefix(p), WithTimeout(50*time.Millisecond))
		admin := redis.NewClient(&redis.Options{Addr: redisAddr(t)})
		defer admin.Close()
		_, err := l.Reserve(ctx, budget("warm"), 0) // the script is cached: the stalled call is one EVALSHA
		require.NoError(t, err)
		// Redis stalls for 400 ms, busy in a script of its own.
		go admin.Eval(ctx, `local t0 = redis.call('TIME')
local s = tonumber(t0[1]) * 1e6 + tonumber(t0[2])
while true do
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1e6 + tonumber(t[2]) - s > 400000 then break end
end
return 1`, nil)
		time.Sleep(20 * time.Millisecond)
		r, err := l.Reserve(ctx, budget("stall"), 0)
		require.NoError(t, err)
		assert.True(t, r.OK, "the fallback took it while Redis stalled")
		// The stalled script runs when the pause ends, and books; its late
		// answer makes the limiter give the booking back.
		time.Sleep(600 * time.Millisecond)
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, err := admin.ZCard(ctx, p+":stall").Result()
			require.NoError(t, err)
			if n == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the abandoned booking is still held: %d", n)
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("the fallback goes on from what this replica booked", func(t *testing.T) {
		proxy := newCutProxy(t, redisAddr(t))
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{proxy.addr}, MaxRetries: -1,
			DialTimeout: 100 * time.Millisecond})
		defer rdb.Close()
		l := newLimiter(t, rdb, WithPrefix(prefix(t)), WithTimeout(200*time.Millisecond))
		for range 5 {
			r, err := l.Reserve(ctx, budget("cont"), 0)
			require.NoError(t, err)
			require.True(t, r.OK)
		}
		proxy.cut()
		r, err := l.Reserve(ctx, budget("cont"), 0)
		require.NoError(t, err)
		assert.False(t, r.OK, "the five sent through Redis still count: no sixth in the window")
	})

	t.Run("the fallback paces at the replica's share", func(t *testing.T) {
		proxy := newCutProxy(t, redisAddr(t))
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{proxy.addr}, MaxRetries: -1,
			DialTimeout: 100 * time.Millisecond})
		defer rdb.Close()
		l := newLimiter(t, rdb, WithPrefix(prefix(t)), WithTimeout(200*time.Millisecond), WithFallbackShare(2))
		proxy.cut()
		ok := 0
		for range 5 {
			r, err := l.Reserve(ctx, budget("share"), 0)
			require.NoError(t, err)
			if r.OK {
				ok++
			}
		}
		assert.Equal(t, 2, ok, "half of 5, rounded down, during the outage")
	})

	t.Run("a budget of limit 0 is an invalid option, not an outage", func(t *testing.T) {
		var logs bytes.Buffer
		l := newLimiter(t, client(t), WithPrefix(prefix(t)), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		_, err := l.Reserve(ctx, []middleware.Budget{{Key: "zero", Limit: 0, Window: time.Second}}, 0)
		require.ErrorIs(t, err, middleware.ErrInvalidOption)
		assert.Empty(t, logs.String(), "nothing logged as an outage")
		_, err = middleware.NewMemoryLimiter(nil).Reserve(ctx, []middleware.Budget{{Key: "zero", Limit: 0, Window: time.Second}}, 0)
		require.ErrorIs(t, err, middleware.ErrInvalidOption, "nor unlimited in memory")
	})
}

// TestPacedPushAtSaturationShared is finding 1 with the shared limiter:
// three replicas (Clients with backends of their own) on one budget in
// Redis, twice the budget, answers 50 ms after the message is counted.
// Each push is delivered and reported so, or refused before sending.
func TestPacedPushAtSaturationShared(t *testing.T) {
	const window, budget = time.Second, 10
	wc := imtest.NewWeCom(imtest.WithWeComRate(budget), imtest.WithWeComWindow(window))
	defer wc.Close()
	wc.AnswerLatency(50 * time.Millisecond)
	p := prefix(t)
	var clients []*middleware.Client
	for i := range 3 {
		rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redisAddr(t)}})
		defer rdb.Close()
		bot, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(budget), wecom.WithRateWindow(window),
			wecom.WithLimiter(newLimiter(t, rdb, WithPrefix(p), WithTimeout(time.Second))))
		require.NoError(t, err)
		c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: fmt.Sprintf("replica-%d", i), IM: wecom.IM, Default: true, Backend: bot}))
		require.NoError(t, err)
		clients = append(clients, c)
	}
	honesty.Saturate(t, wc, clients, 6*budget, window/(2*budget), time.Second)
}

// TestLimiterBooksSeveralAtOnce: in Redis too, a push of several messages
// books them all or none, and a cancel gives all of them back.
func TestLimiterBooksSeveralAtOnce(t *testing.T) {
	ctx := context.Background()
	rdb := client(t)
	p := prefix(t)
	l := newLimiter(t, rdb, WithPrefix(p), WithTimeout(10*time.Second))
	b := func(n int) []middleware.Budget {
		return []middleware.Budget{{Key: "chat", Limit: 5, Window: time.Minute, Sends: n}}
	}
	r, err := l.Reserve(ctx, b(3), 0)
	require.NoError(t, err)
	require.True(t, r.OK)
	r, err = l.Reserve(ctx, b(3), 0)
	require.NoError(t, err)
	assert.False(t, r.OK, "3 more would make 6 in the window: none booked")
	assert.Greater(t, r.Delay, 59*time.Second)
	assert.EqualValues(t, 3, rdb.ZCard(ctx, p+":chat").Val())
	r, err = l.Reserve(ctx, b(2), 0)
	require.NoError(t, err)
	require.True(t, r.OK)
	r.Cancel()
	assert.EqualValues(t, 3, rdb.ZCard(ctx, p+":chat").Val(), "a cancelled booking of 2 gives both back")
	_, err = l.Reserve(ctx, b(6), -1)
	assert.ErrorIs(t, err, middleware.ErrInvalidOption)
}
