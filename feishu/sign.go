package feishu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// Sign is Feishu's request signature for a timestamp in Unix seconds:
// Base64 of HMAC-SHA256 keyed with "timestamp\nsecret" over an empty
// message. It goes in the body as "sign", beside "timestamp" (a string).
// DingTalk's looks alike and is the reverse (key = secret): mixing them up
// fails every request with 19021.
func Sign(timestamp int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
