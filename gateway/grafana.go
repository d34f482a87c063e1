package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Grafana's signature headers: the documented name, and the one its code
// falls back to when the contact point leaves the field empty.
const (
	GrafanaSignatureHeader         = "X-Grafana-Alerting-Signature"
	GrafanaFallbackSignatureHeader = "X-Grafana-Alert-Signature"
)

// grafanaMaxSkew is how far a signed timestamp may be from now.
const grafanaMaxSkew = 5 * time.Minute

// errSignature is a Grafana body whose signature is missing or wrong.
var errSignature = errors.New("grafana signature missing or wrong")

// verifyGrafana checks the HMAC-SHA256 Grafana sends of body (of
// "TIMESTAMP:BODY" when the route names a timestamp header), as lowercase
// hex, in constant time, over the raw bytes before any parsing.
func verifyGrafana(h http.Header, body []byte, rt *route, now time.Time) error {
	got := h.Get(GrafanaSignatureHeader)
	if got == "" {
		got = h.Get(GrafanaFallbackSignatureHeader)
	}
	sig, err := hex.DecodeString(got)
	if got == "" || err != nil {
		return errSignature
	}
	mac := hmac.New(sha256.New, []byte(rt.GrafanaSecret))
	if rt.GrafanaTimestampHeader != "" {
		ts := h.Get(rt.GrafanaTimestampHeader)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return errors.New("grafana signature timestamp missing or not Unix seconds")
		}
		if d := now.Sub(time.Unix(sec, 0)); d > grafanaMaxSkew || d < -grafanaMaxSkew {
			return errors.New("grafana signature timestamp more than 5 minutes off")
		}
		mac.Write([]byte(ts + ":"))
	}
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sig) {
		return errSignature
	}
	return nil
}
