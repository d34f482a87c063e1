// Package deploybot shows how to test bot code that pushes messages: once
// with httpmock against the real WeCom endpoint, once with imtest.Recorder
// and no HTTP at all. See bot_test.go.
package deploybot

import (
	"context"
	"fmt"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/wecom"
)

// NotifyDeploy is the bot code under test: it tells the team a deploy
// finished and mentions whoever started it.
func NotifyDeploy(ctx context.Context, c *middleware.Client, service, version, author string) error {
	// No groupCode: the bot's own group. Mentioning works in text
	// messages through the WeCom option.
	n, err := c.Push(ctx, "wecom", "", "", "Deploy", fmt.Sprintf("%s %s is live", service, version), wecom.Mention(author))
	if err != nil {
		return fmt.Errorf("notify deploy of %s: %w", service, err)
	}
	if n != 1 {
		return fmt.Errorf("notify deploy of %s: reached %d chats, want 1", service, n)
	}
	return nil
}
