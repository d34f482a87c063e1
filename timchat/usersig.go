package timchat

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// sigEncoding is base64 with '+', '/' and '=' replaced by '*', '-' and '_',
// as TLS sig v2 does.
var sigReplacer = strings.NewReplacer("+", "*", "/", "-", "=", "_")
var sigRestorer = strings.NewReplacer("*", "+", "-", "/", "_", "=")

// sigHMAC returns the base64 HMAC-SHA256 of a UserSig v2.
func sigHMAC(secretKey string, sdkAppID uint64, identifier string, now, expire int64) string {
	content := "TLS.identifier:" + identifier + "\n" +
		"TLS.sdkappid:" + strconv.FormatUint(sdkAppID, 10) + "\n" +
		"TLS.time:" + strconv.FormatInt(now, 10) + "\n" +
		"TLS.expire:" + strconv.FormatInt(expire, 10) + "\n"
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// sigDoc is the JSON inside a UserSig v2.
type sigDoc struct {
	Ver        string `json:"TLS.ver"`
	Identifier string `json:"TLS.identifier"`
	SDKAppID   uint64 `json:"TLS.sdkappid"`
	Expire     int64  `json:"TLS.expire"`
	Time       int64  `json:"TLS.time"`
	Sig        string `json:"TLS.sig"`
}

// GenUserSig signs a UserSig v2 for identifier, issued at now and valid for
// expire. It uses only the standard library.
func GenUserSig(sdkAppID uint64, secretKey, identifier string, now time.Time, expire time.Duration) (string, error) {
	if secretKey == "" || identifier == "" || sdkAppID == 0 {
		return "", errors.New("timchat: GenUserSig needs an SDKAppID, a secret key and an identifier")
	}
	if expire < time.Second {
		return "", errors.New("timchat: GenUserSig: expire must be at least a second")
	}
	if !utf8.ValidString(identifier) {
		// JSON would turn the bad bytes into U+FFFD, and the signature
		// would no longer match the identifier it carries.
		return "", errors.New("timchat: GenUserSig: the identifier is not valid UTF-8")
	}
	doc := sigDoc{Ver: "2.0", Identifier: identifier, SDKAppID: sdkAppID, Expire: int64(expire / time.Second), Time: now.Unix()}
	doc.Sig = sigHMAC(secretKey, sdkAppID, identifier, doc.Time, doc.Expire)
	raw, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	if len(raw) > maxSigJSON {
		// DecodeUserSig, and so the server's checks here, would refuse it.
		return "", errIdentifierTooLong
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return sigReplacer.Replace(base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// maxSigJSON bounds a usersig's JSON, both ways: GenUserSig signs no more,
// DecodeUserSig reads no more (a zip bomb stops there).
const maxSigJSON = 4096

// errIdentifierTooLong refuses an identifier whose usersig would pass
// maxSigJSON (TIM's own identifiers are far shorter).
var errIdentifierTooLong = errors.New("timchat: GenUserSig: the identifier is too long for a usersig")

// UserSigInfo is what a UserSig says about itself.
type UserSigInfo struct {
	Identifier string
	SDKAppID   uint64
	Time       time.Time
	Expire     time.Duration
}

// Errors of VerifyUserSig.
var (
	ErrSigMalformed = errors.New("timchat: malformed usersig")
	ErrSigMismatch  = errors.New("timchat: usersig signature does not match")
	ErrSigExpired   = errors.New("timchat: usersig expired")
)

// DecodeUserSig reads a UserSig without checking its signature.
func DecodeUserSig(sig string) (UserSigInfo, string, error) {
	raw, err := base64.StdEncoding.DecodeString(sigRestorer.Replace(sig))
	if err != nil {
		return UserSigInfo{}, "", ErrSigMalformed
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return UserSigInfo{}, "", ErrSigMalformed
	}
	defer zr.Close()
	// A usersig's JSON is a few hundred bytes: refuse a zip bomb.
	js, err := io.ReadAll(io.LimitReader(zr, maxSigJSON))
	if err != nil {
		return UserSigInfo{}, "", ErrSigMalformed
	}
	var doc sigDoc
	if err := json.Unmarshal(js, &doc); err != nil || doc.Ver != "2.0" || doc.Sig == "" {
		return UserSigInfo{}, "", ErrSigMalformed
	}
	return UserSigInfo{Identifier: doc.Identifier, SDKAppID: doc.SDKAppID, Time: time.Unix(doc.Time, 0),
		Expire: time.Duration(doc.Expire) * time.Second}, doc.Sig, nil
}

// VerifyUserSig checks sig against the secret key at now, as the server
// does: signature, app id, identifier and expiry.
func VerifyUserSig(sig string, sdkAppID uint64, secretKey, identifier string, now time.Time) (UserSigInfo, error) {
	info, mac, err := DecodeUserSig(sig)
	if err != nil {
		return info, err
	}
	want := sigHMAC(secretKey, info.SDKAppID, info.Identifier, info.Time.Unix(), int64(info.Expire/time.Second))
	if !hmac.Equal([]byte(want), []byte(mac)) {
		return info, ErrSigMismatch
	}
	if info.SDKAppID != sdkAppID || info.Identifier != identifier {
		return info, fmt.Errorf("%w: signed for another app or identifier", ErrSigMismatch)
	}
	if now.After(info.Time.Add(info.Expire)) {
		return info, ErrSigExpired
	}
	return info, nil
}

// signer caches the admin's usersig and signs a new one ahead of expiry.
// Reads are lock-free; only regeneration takes the lock, once.
type signer struct {
	appID  uint64
	secret string
	admin  string
	static string
	ttl    time.Duration
	now    func() time.Time
	cur    atomic.Pointer[cachedSig]
	mu     sync.Mutex
}

type cachedSig struct {
	sig     string
	prev    string    // the one it replaced, which errors may still hold
	refresh time.Time // regenerate from here on
}

// get returns a valid usersig, signing a new one when the cached one is
// within a tenth of its lifetime of expiry, or when stale is the one the
// server just refused.
func (s *signer) get(stale string) (string, error) {
	if s.static != "" {
		return s.static, nil
	}
	now := s.now()
	if c := s.cur.Load(); c != nil && now.Before(c.refresh) && c.sig != stale {
		return c.sig, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cur.Load(); c != nil && now.Before(c.refresh) && c.sig != stale {
		return c.sig, nil // another goroutine signed meanwhile
	}
	sig, err := GenUserSig(s.appID, s.secret, s.admin, now, s.ttl)
	if err != nil {
		return "", err
	}
	next := &cachedSig{sig: sig, refresh: now.Add(s.ttl - s.ttl/10)}
	if c := s.cur.Load(); c != nil {
		next.prev = c.sig
	}
	s.cur.Store(next)
	return sig, nil
}
