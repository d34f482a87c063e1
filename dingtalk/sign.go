package dingtalk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// Sign is DingTalk's request signature for a timestamp in Unix
// milliseconds: Base64 of HMAC-SHA256 keyed with the secret over
// "timestamp\nsecret". It goes in the query as sign=, URL-encoded, beside
// timestamp=. (Feishu's looks alike and differs: key and message swap.)
func Sign(timestampMillis int64, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
