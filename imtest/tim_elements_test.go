package imtest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/timchat"
)

func TestDecodeElements(t *testing.T) {
	t.Parallel()
	in := []timchat.Element{
		{MsgType: timchat.TypeText, MsgContent: &timchat.TextElem{Text: "t"}},
		{MsgType: timchat.TypeImage, MsgContent: &timchat.ImageElem{UUID: "u", ImageFormat: timchat.ImagePNG, ImageInfoArray: []timchat.ImageInfo{{Type: 1, URL: "x"}}}},
		{MsgType: timchat.TypeSound, MsgContent: &timchat.SoundElem{URL: "s", UUID: "u", DownloadFlag: 2}},
		{MsgType: timchat.TypeFile, MsgContent: &timchat.FileElem{URL: "f", UUID: "u", FileName: "n", DownloadFlag: 2}},
		{MsgType: timchat.TypeVideo, MsgContent: &timchat.VideoElem{VideoURL: "v", ThumbURL: "th", VideoFormat: "mp4", ThumbFormat: "JPG"}},
		{MsgType: typeCustom, MsgContent: &customElem{Data: "d"}},
		{MsgType: typeLocation, MsgContent: &locationElem{Desc: "d", Latitude: 1, Longitude: 2}},
		{MsgType: typeFace, MsgContent: &faceElem{Index: 1, Data: "x"}},
	}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	out, err := decodeElements(b)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

// Recording off keeps nothing, for every API: group messages and
// broadcasts were kept before.
func TestTIMRecordingOff(t *testing.T) {
	t.Parallel()
	tim := NewTIM(WithTIMRecording(false))
	t.Cleanup(tim.Close)
	c, err := timchat.New(timchat.Config{SDKAppID: tim.SDKAppID, SecretKey: tim.SecretKey, Admin: tim.Admin, BaseURL: tim.URL})
	require.NoError(t, err)
	mc, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "t", IM: timchat.IM, Backend: c}))
	require.NoError(t, err)
	ctx := context.Background()
	for _, push := range []func() (int, error){
		func() (int, error) { return mc.Push(ctx, timchat.IM, "", "u1", "", "c2c") },
		func() (int, error) { return mc.Push(ctx, timchat.IM, "", "u1|u2", "", "batch") },
		func() (int, error) { return mc.Push(ctx, timchat.IM, "@TGS#g", "", "", "group") },
		func() (int, error) { return mc.Push(ctx, timchat.IM, "", "", "", "everyone", timchat.Broadcast(nil)) },
	} {
		_, err := push()
		require.NoError(t, err)
	}
	assert.Empty(t, tim.Messages())
	tim.mu.Lock()
	defer tim.mu.Unlock()
	assert.Empty(t, tim.seen, "dedup keys are not kept either")
	assert.Equal(t, 4, tim.requests, "c2c, batch, group, broadcast")
}
