package middleware

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

type sourceKind int

const (
	srcMemory sourceKind = iota
	srcFile
	srcURL
)

// source is a media item checked without network I/O: paths are stat-ed,
// base64 is decoded, URLs are parsed. The Client parses each item's source
// once per push; OpenMedia reuses it.
type source struct {
	kind     sourceKind
	data     []byte // srcMemory
	path     string // srcFile
	url      *url.URL
	size     int64  // srcFile
	baseName string // from the path or URL path
	declared string // MIME from a data URI
}

// describe names a source in errors without echoing inline payloads or a
// URL's query.
func describe(it Item) string {
	switch s := it.Source; {
	case s == "":
		return fmt.Sprintf("%d bytes of Data", len(it.Data))
	case strings.HasPrefix(s, "base64://"):
		return fmt.Sprintf("base64 source (%d chars)", len(s)-len("base64://"))
	case strings.HasPrefix(s, "data:"):
		head, _, ok := strings.Cut(s, ",")
		if !ok || len(head) > 100 {
			// Without its comma, everything may be payload.
			return fmt.Sprintf("data: URI (%d chars)", len(s))
		}
		return fmt.Sprintf("%q (%d chars)", head+",…", len(s))
	case strings.Contains(s, "://"):
		if u, err := url.Parse(s); err == nil {
			u.RawQuery, u.Fragment, u.User, u.ForceQuery = "", "", nil, false
			return fmt.Sprintf("%q", u.String())
		}
		return "an unparsable URL"
	}
	return fmt.Sprintf("%q", it.Source)
}

// prepareSource checks it under policy p without network I/O.
func prepareSource(it Item, p SourcePolicy) (*source, error) {
	s := it.Source
	switch {
	case s == "" && it.Data == nil:
		return nil, fmt.Errorf("%w: %s item has neither Source nor Data", ErrInvalidItem, it.Type)
	case s == "":
		return &source{kind: srcMemory, data: it.Data}, nil
	case it.Data != nil:
		return nil, fmt.Errorf("%w: %s item has both Source and Data", ErrInvalidItem, it.Type)
	case strings.HasPrefix(s, "base64://"), strings.HasPrefix(s, "data:"):
		return inlineSource(it)
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		return urlSource(it, p)
	case strings.HasPrefix(s, "file://"):
		if !p.LocalFiles {
			return nil, badSource(it, "%v", refused("local files are not allowed"))
		}
		u, err := url.Parse(s)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return nil, badSource(it, "a file URL must be file:///absolute/path")
		}
		return fileSource(it, u.Path)
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		if len(scheme) > 20 {
			scheme = scheme[:20] + "…"
		}
		return nil, fmt.Errorf("%w: source scheme %q is not supported (use http, https, file, base64 or data)", ErrInvalidItem, scheme)
	}
	if !p.LocalFiles {
		return nil, badSource(it, "%v", refused("local files are not allowed"))
	}
	return fileSource(it, s)
}

// badSource is ErrInvalidItem naming the source without its payload.
func badSource(it Item, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidItem, describe(it), fmt.Sprintf(format, args...))
}

// inlineSource decodes base64:// and data: sources, which every policy
// allows: their bytes come with them.
func inlineSource(it Item) (*source, error) {
	payload, declared := strings.TrimPrefix(it.Source, "base64://"), ""
	if meta, ok := strings.CutPrefix(it.Source, "data:"); ok {
		var hasComma bool
		meta, payload, hasComma = strings.Cut(meta, ",")
		if !hasComma || !strings.HasSuffix(meta, ";base64") {
			return nil, badSource(it, `a data URI must read "data:<mime>;base64,<data>"`)
		}
		declared = strings.TrimSuffix(meta, ";base64")
	}
	b, err := decodeBase64(payload)
	if err != nil {
		return nil, badSource(it, "invalid base64 at byte %d", badOffset(err))
	}
	return &source{kind: srcMemory, data: b, declared: declared}, nil
}

// urlSource parses an http(s) source and checks what the policy can know
// of it before a connection.
func urlSource(it Item, p SourcePolicy) (*source, error) {
	u, err := url.Parse(it.Source)
	if err != nil || u.Host == "" {
		return nil, badSource(it, "not a valid URL")
	}
	if err := p.checkURL(u); err != nil {
		return nil, badSource(it, "%v", err)
	}
	return &source{kind: srcURL, url: u, baseName: urlBase(u)}, nil
}

func fileSource(it Item, p string) (*source, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidItem, describe(it), unwrapPathError(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidItem, describe(it))
	}
	return &source{kind: srcFile, path: p, size: fi.Size(), baseName: cleanName(filepath.Base(p))}, nil
}

// unwrapPathError drops the path from an *os.PathError, which describe
// already printed.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func urlBase(u *url.URL) string {
	b := path.Base(u.Path)
	if b == "/" || b == "." || b == "" {
		return ""
	}
	return cleanName(b)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	enc := base64.StdEncoding
	switch {
	case strings.ContainsAny(s, "-_"):
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

func badOffset(err error) int64 {
	if c, ok := err.(base64.CorruptInputError); ok {
		return int64(c)
	}
	return 0
}
