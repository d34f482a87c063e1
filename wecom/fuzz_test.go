package wecom

import (
	"errors"
	"testing"

	"github.com/imbridge/middleware"
)

func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"errcode":0,"errmsg":"ok"}`, `{"errcode":45009,"errmsg":"freq"}`, `{"errcode":0,"media_id":"m","created_at":"1"}`,
		``, `{`, `null`, `{"errcode":"0"}`, `{"errcode":1e400}`, `[]`, `{"errmsg":"ok"}`} {
		f.Add(200, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := decodeReply(status, body)
		if err == nil {
			// Success only with an explicit errcode 0.
			if r == nil || r.ErrCode == nil || *r.ErrCode != 0 {
				t.Fatalf("success without errcode 0: %q", body)
			}
			return
		}
		if r != nil {
			t.Fatal("a reply with an error")
		}
		var api *middleware.APIError
		if !errors.As(err, &api) {
			t.Fatalf("not an *APIError: %v", err)
		}
	})
}
