package wecom

import "github.com/imbridge/middleware/internal/textsplit"

// Byte limits of WeCom message contents.
const (
	TextLimit     = 2048
	MarkdownLimit = 4096
)

// splitText and splitMarkdown cut content to a limit without losing a byte
// (package textsplit, shared with the other webhook backends).
func splitText(s string, limit int) []string     { return textsplit.Text(s, limit) }
func splitMarkdown(s string, limit int) []string { return textsplit.Markdown(s, limit) }
