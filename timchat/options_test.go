package timchat_test

import (
	"context"
	"encoding/base64"
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

// WithProgress sees the bytes the Uploader reads.
func TestUploadProgress(t *testing.T) {
	t.Parallel()
	tim := imtest.NewTIM()
	t.Cleanup(tim.Close)
	host := imtest.NewMediaHost()
	t.Cleanup(host.Close)
	tc, err := timchat.New(timchat.Config{SDKAppID: tim.SDKAppID, SecretKey: tim.SecretKey, Admin: tim.Admin, BaseURL: tim.URL},
		timchat.WithUploader(host))
	require.NoError(t, err)
	mc, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "t", IM: timchat.IM, Backend: tc}))
	require.NoError(t, err)
	data := make([]byte, 700<<10)
	var last, total int64
	_, err = mc.PushFile(context.Background(), timchat.IM, "", "alice", "", "base64://"+base64.StdEncoding.EncodeToString(data),
		middleware.WithFilename("blob.bin"), middleware.WithProgress(func(done, tot int64) { last, total = done, tot }))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), last)
	assert.Equal(t, int64(len(data)), total)
}
