//go:build unix

package accounturl

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadRefusesWhatIsNotAFile: a FIFO (which would wait for a writer
// forever) or a directory is refused at once.
func TestLoadRefusesWhatIsNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	for _, p := range []string{fifo, dir} {
		_, _, err := Load(p)
		require.ErrorIs(t, err, ErrConfig, p)
		assert.Contains(t, err.Error(), "not a regular file")
	}
}
