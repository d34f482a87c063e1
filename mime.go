package middleware

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
)

// sniffMIME guesses a type from the content, then the extension, then what
// the source declared.
func sniffMIME(head []byte, name, declared string) string {
	if bytes.HasPrefix(head, []byte("#!AMR\n")) {
		return "audio/amr"
	}
	sniffed := http.DetectContentType(head)
	generic := sniffed == "application/octet-stream" || strings.HasPrefix(sniffed, "text/plain")
	if !generic {
		return sniffed
	}
	if ext := path.Ext(name); ext != "" {
		if t := mimeByExt(ext); t != "" {
			return t
		}
	}
	if declared != "" {
		if t, _, err := mime.ParseMediaType(declared); err == nil && t != "application/octet-stream" {
			return t
		}
	}
	return sniffed
}

// mimeTypes is the one table of the types chat media come in, each with
// its usual extension first: it answers both directions without asking
// the system's MIME database, which differs between machines.
var mimeTypes = []struct{ mime, ext string }{
	{"image/png", ".png"}, {"image/jpeg", ".jpg"}, {"image/jpeg", ".jpeg"}, {"image/gif", ".gif"},
	{"image/webp", ".webp"}, {"audio/amr", ".amr"}, {"audio/mpeg", ".mp3"}, {"audio/wav", ".wav"},
	{"audio/ogg", ".ogg"}, {"audio/opus", ".opus"}, {"video/mp4", ".mp4"}, {"video/quicktime", ".mov"},
	{"text/plain", ".txt"}, {"text/csv", ".csv"}, {"text/markdown", ".md"}, {"application/pdf", ".pdf"},
	{"application/zip", ".zip"},
}

func mimeByExt(ext string) string {
	ext = strings.ToLower(ext)
	for _, t := range mimeTypes {
		if t.ext == ext {
			return t.mime
		}
	}
	if t := mime.TypeByExtension(ext); t != "" {
		mt, _, _ := mime.ParseMediaType(t)
		return mt
	}
	return ""
}

func extensionFor(mimeType string) string {
	mt, _, _ := mime.ParseMediaType(mimeType)
	for _, t := range mimeTypes {
		if t.mime == mt {
			return t.ext
		}
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
