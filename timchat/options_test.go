package timchat_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
)

func TestOptionsOf(t *testing.T) {
	t.Parallel()
	rec := imtest.NewRecorder()
	mc, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "tim", IM: timchat.IM, Backend: rec}))
	require.NoError(t, err)
	cond := &timchat.Condition{TagsOr: []string{"vip"}}
	_, err = mc.Push(context.Background(), timchat.IM, "", "", "", "x", timchat.Broadcast(cond), timchat.OnlineOnly(), timchat.VideoSeconds(3))
	require.NoError(t, err)
	got, ok := rec.Last()
	require.True(t, ok)
	assert.Equal(t, timchat.Options{Broadcast: true, Condition: cond, OnlineOnly: true, VideoSeconds: 3}, timchat.OptionsOf(got.Message()))
}
