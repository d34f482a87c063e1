package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/testkit"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/redisstate"
	"github.com/imbridge/middleware/wecom"
)

// TestOutboxCommand lists, resends and drops the dead letters of a Redis
// outbox that a service's Outbox filled, as an operator would.
func TestOutboxCommand(t *testing.T) {
	addr := testkit.Redis(t)
	ctx := context.Background()
	prefix := "test:cli:" + time.Now().Format("150405.000000")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	store, err := redisstate.NewOutboxStore(ctx, rdb, redisstate.WithPrefix(prefix))
	require.NoError(t, err)
	wc := imtest.NewWeCom()
	defer wc.Close()
	bot, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))
	require.NoError(t, err)
	o, err := outbox.New(c, outbox.WithStore(store), outbox.WithPollInterval(20*time.Millisecond))
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.Run(runCtx) }()
	defer func() { stop(); <-done }()

	wc.DropAfterRead(1)
	id, err := o.Push(ctx, wecom.IM, "chat", "", "", "deploy done")
	require.NoError(t, err)
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := o.Wait(wait, id)
	require.NoError(t, err)
	require.Equal(t, outbox.JobMaybeDelivered, s.State)

	cli := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"outbox"}, append(args, "--redis", "redis://"+addr, "--prefix", prefix)...), nil, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, _ := cli("list", "--json")
	require.Equal(t, exitOK, code)
	var listed map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	assert.Equal(t, id, listed["id"])
	assert.Equal(t, "maybe_delivered", listed["state"])
	assert.Equal(t, "wecom", listed["im"])
	assert.Equal(t, "ops", listed["account"])
	assert.Equal(t, "chat", listed["group"])
	assert.Equal(t, []any{"text"}, listed["items"])
	assert.Equal(t, "maybe_delivered", listed["last_error_class"])
	assert.NotContains(t, out, "deploy done", "a listing shows where a job goes, not what it says")

	code, out, _ = cli("list")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "wecom/ops group chat", "the table names the target")

	code, out, _ = cli("status", id)
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "maybe_delivered")
	assert.Contains(t, out, "STATE")

	code, out, _ = cli("resend", id)
	require.Equal(t, exitOK, code)
	assert.Equal(t, "queued "+id+"\n", out)
	s, err = o.Wait(wait, id)
	require.NoError(t, err)
	assert.Equal(t, outbox.JobSent, s.State, "delivered by the service's Outbox")
	assert.Len(t, wc.Messages(), 2, "the operator chose to send it again")

	code, _, errOut := cli("drop", id)
	assert.Equal(t, exitBadInput, code, "sent: not a dead letter")
	assert.Contains(t, errOut, "not a dead letter")
	code, _, errOut = cli("resend", "no-such-job")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "no such job")
	code, _, _ = cli("status", "no-such-job")
	assert.Equal(t, exitBadInput, code, "the same code as resend's for an unknown id")
	code, out, _ = cli("list")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, 1, strings.Count(out, "\n"), "the header only")

	var stderr bytes.Buffer
	assert.Equal(t, exitConfig, run(ctx, []string{"outbox", "list", "--redis", "http://user:s3cret@host"}, nil, &bytes.Buffer{}, &stderr))
	assert.NotContains(t, stderr.String(), "s3cret")
	t.Setenv("IMBRIDGE_REDIS", "")
	assert.Equal(t, exitConfig, run(ctx, []string{"outbox", "list"}, nil, &bytes.Buffer{}, &bytes.Buffer{}))
	assert.Equal(t, exitUsage, run(ctx, []string{"outbox", "resend"}, nil, &bytes.Buffer{}, &bytes.Buffer{}))
}
