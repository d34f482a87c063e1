package timchat_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/timchat"
)

// TestVerifySendsNothing: Verify proves the credentials with TIM's
// account_check, on the emulator; a wrong secret key is ErrUnauthorized,
// and no message is sent either way.
func TestVerifySendsNothing(t *testing.T) {
	t.Parallel()
	tim := imtest.NewTIM()
	defer tim.Close()
	c, err := timchat.New(timchat.Config{SDKAppID: tim.SDKAppID, SecretKey: tim.SecretKey, Admin: tim.Admin, BaseURL: tim.URL})
	require.NoError(t, err)
	require.NoError(t, c.Verify(context.Background()))
	wrong, err := timchat.New(timchat.Config{SDKAppID: tim.SDKAppID, SecretKey: strings.Repeat("0", len(tim.SecretKey)), Admin: tim.Admin, BaseURL: tim.URL})
	require.NoError(t, err)
	err = wrong.Verify(context.Background())
	require.ErrorIs(t, err, middleware.ErrUnauthorized)
	assert.NotContains(t, err.Error(), tim.SecretKey)
	assert.Empty(t, tim.Messages(), "nothing was sent")
}
