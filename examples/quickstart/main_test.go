package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestQuickstartOnEmulators(t *testing.T) {
	for _, k := range []string{"WECOM_WEBHOOK_KEY", "TIM_SDKAPPID", "DINGTALK_WEBHOOK", "FEISHU_WEBHOOK"} {
		if os.Getenv(k) != "" {
			t.Skipf("%s is set: the quickstart would hit the real service", k)
		}
	}
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"all pushes arrived", "failed as expected", "WeCom emulator received 8 messages", "TIM emulator received 7 messages",
		"DingTalk emulator received 7 messages", "Feishu emulator received 7 messages"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
