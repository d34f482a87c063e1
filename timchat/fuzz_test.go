package timchat

import (
	"errors"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/httpx"
)

func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"ActionStatus":"OK","ErrorCode":0}`, `{"ActionStatus":"FAIL","ErrorCode":90024,"ErrorInfo":"x"}`,
		`{"ActionStatus":"FAIL","ErrorCode":0}`, `{"ErrorList":[{"To_Account":"a","ErrorCode":1}]}`, ``, `{`, `null`, `{"ErrorCode":"0"}`} {
		f.Add(200, []byte(s))
	}
	f.Add(307, []byte(`{"ActionStatus":"OK","ErrorCode":0}`))
	f.Add(503, []byte(`{"ActionStatus":"OK","ErrorCode":0}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := decodeReply(&httpx.Response{Status: status, Header: http.Header{}, Body: body})
		if err == nil {
			if r == nil || r.ErrorCode == nil || *r.ErrorCode != 0 || r.ActionStatus == "FAIL" {
				t.Fatalf("success without ErrorCode 0: %q", body)
			}
			if status < 200 || status > 299 {
				t.Fatalf("success with HTTP %d", status)
			}
			return
		}
		var api *middleware.APIError
		if !errors.As(err, &api) {
			t.Fatalf("unexpected error type %T", err)
		}
		if api.Code == 0 && api.HTTPStatus != status {
			t.Fatalf("a non-platform answer without its HTTP status: %+v", api)
		}
	})
}

func FuzzUserSig(f *testing.F) {
	f.Add(uint64(1400000000), "administrator", int64(1700000000), int64(86400), "eJyrVspOrSxIzUvOTC1R")
	f.Add(uint64(1), "用户", int64(0), int64(1), "")
	f.Fuzz(func(t *testing.T, appID uint64, id string, now, expire int64, junk string) {
		// Decoding arbitrary input never panics.
		_, _, _ = DecodeUserSig(junk)
		_, _ = VerifyUserSig(junk, appID, testSecret, id, time.Unix(now, 0))
		if appID == 0 || id == "" || expire < 1 || expire > 1<<40 || now < 0 || now > 1<<40 {
			return
		}
		sig, err := GenUserSig(appID, testSecret, id, time.Unix(now, 0), time.Duration(expire)*time.Second)
		if !utf8.ValidString(id) {
			if err == nil {
				t.Fatal("signed an identifier that is not UTF-8: it could never verify")
			}
			return
		}
		if errors.Is(err, errIdentifierTooLong) {
			return // refused up front, rather than signed and unreadable
		}
		if err != nil {
			t.Fatal(err)
		}
		info, err := VerifyUserSig(sig, appID, testSecret, id, time.Unix(now, 0))
		if err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		if info.Identifier != id || info.SDKAppID != appID || info.Time.Unix() != now {
			t.Fatalf("round trip changed the fields: %+v", info)
		}
	})
}
