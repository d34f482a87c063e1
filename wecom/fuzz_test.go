package wecom

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
)

func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"errcode":0,"errmsg":"ok"}`, `{"errcode":45009,"errmsg":"freq"}`, `{"errcode":0,"media_id":"m","created_at":"1"}`,
		``, `{`, `null`, `{"errcode":"0"}`, `{"errcode":1e400}`, `[]`, `{"errmsg":"ok"}`} {
		f.Add(200, []byte(s))
	}
	f.Add(302, []byte(`{"errcode":0,"errmsg":"ok"}`))
	f.Add(429, []byte(`{"errcode":0,"errmsg":"ok"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := decodeReply(&httpx.Response{Status: status, Header: http.Header{}, Body: body}, time.Minute)
		if err == nil {
			// Success only with an explicit errcode 0 in a 2xx answer.
			var v struct {
				ErrCode *int `json:"errcode"`
			}
			if json.Unmarshal(body, &v) != nil || v.ErrCode == nil || *v.ErrCode != 0 {
				t.Fatalf("success without errcode 0: %q", body)
			}
			if status < 200 || status > 299 {
				t.Fatalf("success with HTTP %d", status)
			}
			return
		}
		if r != (answer{}) {
			t.Fatal("an answer with an error")
		}
		var api *middleware.APIError
		if !errors.As(err, &api) {
			t.Fatalf("not an *APIError: %v", err)
		}
	})
}
