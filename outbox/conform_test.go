package outbox_test

import (
	"testing"

	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/outbox/outboxtest"
)

func TestMemoryStoreConforms(t *testing.T) {
	outboxtest.Run(t, outboxtest.Harness{NewStore: func(*testing.T) outbox.Store { return outbox.NewMemoryStore(0) }})
}
