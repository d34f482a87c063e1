package outcome

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
)

func TestNotPlatform(t *testing.T) {
	t.Parallel()
	wait := http.Header{"Retry-After": {"3"}}
	for _, tt := range []struct {
		status    int
		header    http.Header
		kind      error
		retryWait time.Duration
	}{
		{307, nil, nil, 0},
		{404, nil, nil, 0},
		{400, nil, nil, 0},
		{429, nil, middleware.ErrRateLimited, 0},
		{429, wait, middleware.ErrRateLimited, 3 * time.Second},
		{503, wait, middleware.ErrRateLimited, 3 * time.Second},
		{503, nil, middleware.ErrMaybeDelivered, 0},
		{502, nil, middleware.ErrMaybeDelivered, 0},
		{200, nil, middleware.ErrMaybeDelivered, 0},
	} {
		h := tt.header
		if h == nil {
			h = http.Header{}
		}
		e := NotPlatform("wecom", &httpx.Response{Status: tt.status, Header: h, Body: []byte("<html>")})
		assert.Equal(t, tt.status, e.HTTPStatus)
		assert.Zero(t, e.Code, "an HTTP status is never a platform code")
		assert.Equal(t, tt.kind, e.Kind, "HTTP %d", tt.status)
		assert.Equal(t, tt.retryWait, e.RetryAfter, "HTTP %d", tt.status)
		assert.Contains(t, e.Error(), "HTTP")
	}
}
