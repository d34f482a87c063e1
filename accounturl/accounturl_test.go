package accounturl

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware/dingtalk"
	"github.com/imbridge/middleware/feishu"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

const (
	key    = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
	secret = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ raw, im string }{
		{"wecom://" + key, wecom.IM},
		{"wecom://" + key + "?rate=100&bot_rate=5000", wecom.IM},
		{"wecom://" + key + "?base=http://127.0.0.1:8080", wecom.IM},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key, wecom.IM},
		{"tim://administrator:" + secret + "@1400000000?region=singapore", timchat.IM},
		{"tim://administrator:" + secret + "@1400000000?base=http://127.0.0.1:9&sig_ttl=48h", timchat.IM},
	} {
		a, err := Parse("ops", tt.raw)
		require.NoError(t, err, Redact(tt.raw))
		assert.Equal(t, tt.im, a.IM)
		assert.Equal(t, "ops", a.ID)
		assert.NotNil(t, a.Backend)
	}
}

func TestParseErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"wecom://" + key + "?rate=fast",
		"wecom://" + key + "?colour=red",
		"tim://administrator:" + secret + "@notanumber",
		"tim://administrator:" + secret + "@1400000000?region=mars",
		"tim://administrator:" + secret + "@1400000000?speed=1",
		"ftp://" + key,
		"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key, // plain http, no base named
	} {
		_, err := Parse("ops", raw)
		require.ErrorIs(t, err, ErrConfig, raw)
		assert.NotContains(t, err.Error(), key)
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"wecom://" + key + "?rate=5":                                     "wecom://REDACTED?rate=5",
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key:    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REDACTED",
		"tim://administrator:" + secret + "@1400000000?region=singapore": "tim://administrator:REDACTED@1400000000?region=singapore",
		"%%%" + key:                              "…",
		"wecom:" + key:                           "wecom:…",
		"wecom:///" + key:                        "wecom://…",
		"tim://" + secret + "@1400000000":        "tim://…",
		"https://hooks.slack.com/services/T/B/X": "https://hooks.slack.com/…",
		"wecom://" + key + "?rate=5&oops=" + key: "wecom://REDACTED?oops=REDACTED&rate=5",
	} {
		assert.Equal(t, want, Redact(raw))
	}
}

// TestMistypedURLsShowNoSecret: the mistypings people make of each form
// never print the key or secret, whether they parse or not, in Parse's
// error or in Redact.
func TestMistypedURLsShowNoSecret(t *testing.T) {
	t.Parallel()
	const hook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
	for _, raw := range []string{
		"wecom:" + key, "wecom:/" + key, "wecom:///" + key, "wecom://" + key + "@",
		"tim:administrator:" + secret + "@1400000000", "tim:/administrator:" + secret + "@1400000000",
		"tim://" + secret + "@1400000000", "tim://administrator:" + secret + "@notanumber",
		hook + "?key=" + key + ";", hook + "?key=" + key + "%", hook + "?Key=" + key, hook + "?KEY=" + key,
		"https://hooks.slack.com/services/T000/B000/" + key, "wecombot://" + key,
		"dingtalk:" + key, "feishu:/" + key, "wecom://" + key + "/extra",
	} {
		_, err := Parse("x", raw)
		if err != nil {
			assert.NotContains(t, err.Error(), key, raw)
			assert.NotContains(t, err.Error(), secret, raw)
		}
		assert.NotContains(t, Redact(raw), key, raw)
		assert.NotContains(t, Redact(raw), secret, raw)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "accounts")
	require.NoError(t, os.WriteFile(good, []byte(strings.Join([]string{
		"# the ops bots",
		"ops default wecom://" + key,
		"",
		"tim tim://administrator:" + secret + "@1400000000",
	}, "\n")), 0o600))
	accts, warning, err := Load(good)
	require.NoError(t, err)
	assert.Empty(t, warning)
	require.Len(t, accts, 2)
	assert.True(t, accts[0].Default)
	assert.Equal(t, good+":2", accts[0].Source)
	assert.Equal(t, "wecom://REDACTED", accts[0].Redacted)
	assert.False(t, accts[1].Default)

	// Readable by others: a warning.
	require.NoError(t, os.Chmod(good, 0o644))
	_, warning, err = Load(good)
	require.NoError(t, err)
	assert.Contains(t, warning, "readable by others")

	// A bad line is named, without its secret.
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("ops wecom://"+key+"\nbroken tim://administrator:"+secret+"@x\n"), 0o600))
	_, _, err = Load(bad)
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), bad+":2")
	assert.NotContains(t, err.Error(), secret)
	for _, line := range []string{"just-an-id", "a b c d", "a notdefault wecom://" + key} {
		_, err := ParseFile(strings.NewReader(line), "f")
		require.ErrorIs(t, err, ErrConfig, line)
		assert.NotContains(t, err.Error(), key)
	}
	_, err = ParseFile(strings.NewReader("a wecom://"+key+"\na wecom://"+key), "f")
	require.True(t, errors.Is(err, ErrConfig))
	assert.Contains(t, err.Error(), "again")
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvURL, "wecom://"+key)
	a, ok, err := FromEnv()
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, a.Default)
	assert.Equal(t, "env", a.ID)
	t.Setenv(EnvURL, "")
	_, ok, _ = FromEnv()
	assert.False(t, ok)
}

func TestParseDingTalkAndFeishu(t *testing.T) {
	t.Parallel()
	const token = "b7c1f0e2d3a4958671829384756a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6"
	const hook = "2f8c1a7e-5b3d-4e9f-a0c1-7d6e5f4a3b2c"
	const sign = "SECabcdef0123456789"
	const app = "appSecretValue0123"
	for _, tt := range []struct{ raw, im string }{
		{"dingtalk://" + token, dingtalk.IM},
		{"dingtalk://" + token + "?secret=" + sign + "&rate=10", dingtalk.IM},
		{"https://oapi.dingtalk.com/robot/send?access_token=" + token, dingtalk.IM},
		{"https://oapi.dingtalk.com/robot/send?access_token=" + token + "&secret=" + sign, dingtalk.IM},
		{"http://127.0.0.1:9/robot/send?access_token=" + token + "&base=http://127.0.0.1:9", dingtalk.IM},
		{"feishu://" + hook + "?secret=" + sign + "&app_id=cli_1&app_secret=" + app, feishu.IM},
		{"lark://" + hook, feishu.IM},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/" + hook, feishu.IM},
		{"https://open.larksuite.com/open-apis/bot/v2/hook/" + hook + "?secret=" + sign, feishu.IM},
	} {
		a, err := Parse("ops", tt.raw)
		require.NoError(t, err, Redact(tt.raw))
		assert.Equal(t, tt.im, a.IM)
		red := Redact(tt.raw)
		for _, s := range []string{token, hook, sign, app} {
			assert.NotContains(t, red, s)
		}
	}
	for _, bad := range []string{
		"dingtalk://" + token + "?colour=red",
		"http://oapi.dingtalk.com/robot/send?access_token=" + token,
		"feishu://" + hook + "?app_id=cli_1",
		"http://open.feishu.cn/open-apis/bot/v2/hook/" + hook,
		"dingtalk://" + token + "?secret=" + sign + "%",
		"feishu://short",
	} {
		_, err := Parse("ops", bad)
		require.ErrorIs(t, err, ErrConfig, bad)
		for _, s := range []string{token, hook, sign} {
			assert.NotContains(t, err.Error(), s, bad)
		}
	}
	a, err := Parse("ops", "lark://"+hook)
	require.NoError(t, err)
	assert.Contains(t, a.Backend.(*feishu.Client).String(), feishu.LarkBaseURL)
}

// TestBaseNeverCarriesASecretInClear: base= may name https anywhere or
// plain http on loopback only.
func TestBaseNeverCarriesASecretInClear(t *testing.T) {
	t.Parallel()
	const hook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + key
	for raw, ok := range map[string]bool{
		hook + "&base=http://attacker.example:8080":   false,
		hook + "&base=http://10.0.0.5":                false,
		"wecom://" + key + "?base=http://example.com": false,
		hook + "&base=https://proxy.example":          true,
		hook + "&base=http://127.0.0.1:9999":          true,
		"wecom://" + key + "?base=http://[::1]:80":    true,
		"wecom://" + key + "?base=http://localhost":   true,
	} {
		_, err := Parse("x", raw)
		if ok {
			assert.NoError(t, err, raw)
			continue
		}
		require.ErrorIs(t, err, ErrConfig, raw)
		assert.Contains(t, err.Error(), "in clear")
		assert.NotContains(t, err.Error(), key)
	}
}

// TestOtherToolsForms: apprise's wecombot:// forms parse to the same
// account as wecom://; shoutrrr's mention settings are refused, named,
// never dropped.
func TestOtherToolsForms(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"wecombot://" + key, "wecombot://?key=" + key} {
		a, err := Parse("x", raw)
		require.NoError(t, err, raw)
		assert.Equal(t, wecom.IM, a.IM)
		assert.NotContains(t, Redact(raw), key)
	}
	_, err := Parse("x", "wecom://"+key+"?mentioned_list=@all")
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "mentioned_list")
	assert.NotContains(t, err.Error(), key)
}

// TestTIMUploadSetting: upload= gives a tim:// account an uploader; one
// that is not an http(s) URL without a query is refused.
func TestTIMUploadSetting(t *testing.T) {
	t.Parallel()
	base := "tim://administrator:" + secret + "@1400000000?upload="
	_, err := Parse("x", base+url.QueryEscape("http://127.0.0.1:9/media"))
	require.NoError(t, err)
	for _, bad := range []string{"ftp://host/x", "http://host/x?sig=1", "nothing"} {
		_, err := Parse("x", base+url.QueryEscape(bad))
		require.ErrorIs(t, err, ErrConfig, bad)
		assert.Contains(t, err.Error(), "upload=")
	}
	assert.Contains(t, Redact(base+url.QueryEscape("http://127.0.0.1:9/media")), "upload=http")
}

// TestTagsOnLines: tag:NAME words between the ID and the URL; any other
// word is refused by position, never echoed.
func TestTagsOnLines(t *testing.T) {
	t.Parallel()
	accts, err := ParseFile(strings.NewReader("a default tag:ops tag:db wecom://"+key+"\nb wecom://"+key+"\n"), "f")
	require.NoError(t, err)
	assert.True(t, accts[0].Default)
	assert.Equal(t, []string{"ops", "db"}, accts[0].Tags)
	assert.Empty(t, accts[1].Tags)
	_, err = ParseFile(strings.NewReader("a "+key[:8]+" wecom://"+key+"\n"), "f")
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "f:1: word 2")
	assert.NotContains(t, err.Error(), key[:8])
}
