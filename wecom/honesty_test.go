package wecom_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/imtest"
	"github.com/imbridge/middleware/internal/honesty"
	"github.com/imbridge/middleware/wecom"
)

// TestPacedPushAtSaturation is finding 1 of the time-honesty issue: twice
// the budget, answers 50 ms after the message is counted, the in-memory
// pacer. A slot is a chance to send: each push is delivered and reported
// so, or refused before sending; none ends "maybe delivered" because its
// slot came at its deadline.
func TestPacedPushAtSaturation(t *testing.T) {
	const window, budget = time.Second, 10
	wc := imtest.NewWeCom(imtest.WithWeComRate(budget), imtest.WithWeComWindow(window))
	defer wc.Close()
	wc.AnswerLatency(50 * time.Millisecond)
	bot, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(budget), wecom.WithRateWindow(window))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))
	require.NoError(t, err)
	// Twice the budget for three windows, each push with a second.
	honesty.Saturate(t, wc, []*middleware.Client{c}, 6*budget, window/(2*budget), time.Second)
}

// parts makes a text that WeCom takes in n messages: n chunks of 2 000
// bytes, each a line of its own.
func parts(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "part %02d %s\n", i, strings.Repeat("x", 1990))
	}
	return b.String()
}

func partsRig(t *testing.T, platformRate, clientRate int, window time.Duration) (*imtest.WeCom, *middleware.Client) {
	t.Helper()
	wc := imtest.NewWeCom(imtest.WithWeComRate(platformRate), imtest.WithWeComWindow(window))
	t.Cleanup(wc.Close)
	bot, err := wecom.New(wc.WebhookURL(), wecom.WithBaseURL(wc.URL), wecom.WithRateLimit(clientRate), wecom.WithRateWindow(window))
	require.NoError(t, err)
	c, err := middleware.NewClient(middleware.WithAccount(middleware.Account{ID: "ops", IM: wecom.IM, Default: true, Backend: bot}))
	require.NoError(t, err)
	return wc, c
}

// TestSplitTextIsAllPartsOrNone is finding 2: a text of several messages
// books them all before the first leaves. When the budget has room for
// only some, nothing is sent and the refusal says when they all fit;
// given the time, all go in one window. One that never fits a window is
// refused before anything is sent, naming the count.
func TestSplitTextIsAllPartsOrNone(t *testing.T) {
	ctx := context.Background()
	wc, c := partsRig(t, 5, 5, time.Second)
	_, err := c.Push(ctx, wecom.IM, "", "", "", "one")
	require.NoError(t, err)
	_, err = c.Push(ctx, wecom.IM, "", "", "", parts(5), middleware.WithTimeout(300*time.Millisecond))
	var le *middleware.LimitError
	require.ErrorAs(t, err, &le, "4 slots free, 5 needed: refused")
	assert.Len(t, wc.Messages(), 1, "no part of it was sent")
	n, err := c.Push(ctx, wecom.IM, "", "", "", parts(5), middleware.WithTimeout(5*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Len(t, wc.Messages(), 6)
	assert.Zero(t, wc.Answered(45009))

	_, err = c.Push(ctx, wecom.IM, "", "", "", parts(6))
	require.ErrorIs(t, err, middleware.ErrInvalidItem)
	assert.Contains(t, err.Error(), "6 messages")
	assert.Len(t, wc.Messages(), 6, "refused before sending")
}

// TestSplitTextResumesNeverRepeats is finding 2: another sender spends
// the platform's budget part-way through a split text (the platform says
// 45009 at part 4). The error says 3 parts went; Resume sends parts 4 and
// 5 only, and the chat shows each part once.
func TestSplitTextResumesNeverRepeats(t *testing.T) {
	ctx := context.Background()
	wc, c := partsRig(t, 3, 20, 500*time.Millisecond)
	text := parts(5)
	_, err := c.Push(ctx, wecom.IM, "", "", "", text, middleware.WithTimeout(300*time.Millisecond))
	var pe *middleware.PartialError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 3, pe.SentParts)
	assert.False(t, pe.MaybeDelivered)
	require.ErrorIs(t, err, middleware.ErrRateLimited)
	time.Sleep(600 * time.Millisecond) // the platform's window passes
	n, err := c.Push(ctx, wecom.IM, "", "", "", text, pe.Resume())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var got []string
	for _, m := range wc.Messages() {
		got = append(got, m.Content[:7])
	}
	assert.Equal(t, []string{"part 00", "part 01", "part 02", "part 03", "part 04"}, got, "each part once, in order")
}
