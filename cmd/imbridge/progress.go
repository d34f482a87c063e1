package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressFrom is the size from which an upload shows a bar.
const progressFrom = 4 << 20

// progress draws an upload's bar on stderr when it is a terminal and the
// upload is large; otherwise it draws nothing.
type progress struct {
	out io.Writer
	tty bool
	bar *progressbar.ProgressBar
}

func newProgress(stderr io.Writer) *progress {
	f, ok := stderr.(*os.File)
	return &progress{out: stderr, tty: ok && term.IsTerminal(int(f.Fd()))}
}

// update is the WithProgress callback.
func (p *progress) update(done, total int64) {
	if !p.tty || total < progressFrom {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.out), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("uploading"), progressbar.OptionClearOnFinish())
	}
	_ = p.bar.Set64(done)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
