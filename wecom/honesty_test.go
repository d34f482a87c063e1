package wecom_test

import (
	"testing"
	"time"

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
