package imtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/imbridge/middleware/timchat"
)

// Element types TIM takes that the SDK never sends; the emulator checks
// and decodes them all the same.
const (
	typeLocation = "TIMLocationElem"
	typeFace     = "TIMFaceElem"
	typeCustom   = "TIMCustomElem"
)

// locationElem, faceElem and customElem are the MsgContent of those types
// in TIMMessage.Elements.
type (
	locationElem struct {
		Desc      string  `json:"Desc"`
		Latitude  float64 `json:"Latitude"`
		Longitude float64 `json:"Longitude"`
	}
	faceElem struct {
		Index int    `json:"Index"`
		Data  string `json:"Data"`
	}
	customElem struct { // at most one per message
		Data  string `json:"Data"`
		Desc  string `json:"Desc,omitempty"`
		Ext   string `json:"Ext,omitempty"`
		Sound string `json:"Sound,omitempty"`
	}
)

// elementKeys lists every key each element may carry, spelled as TIM
// spells them; anything else is a format error.
var elementKeys = map[string]map[string]bool{
	timchat.TypeText:  keys("Text"),
	typeLocation:      keys("Desc", "Latitude", "Longitude"),
	typeFace:          keys("Index", "Data"),
	typeCustom:        keys("Data", "Desc", "Ext", "Sound"),
	timchat.TypeSound: keys("Url", "UUID", "Size", "Second", "Download_Flag"),
	timchat.TypeImage: keys("UUID", "ImageFormat", "ImageInfoArray"),
	timchat.TypeFile:  keys("Url", "UUID", "FileSize", "FileName", "Download_Flag"),
	timchat.TypeVideo: keys("VideoUrl", "VideoUUID", "VideoSize", "VideoSecond", "VideoFormat", "VideoDownloadFlag",
		"ThumbUrl", "ThumbUUID", "ThumbSize", "ThumbWidth", "ThumbHeight", "ThumbFormat", "ThumbDownloadFlag"),
}

var imageInfoKeys = keys("Type", "Size", "Width", "Height", "URL")

func keys(ks ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// rawElement is one MsgBody entry before its content is checked.
type rawElement struct {
	MsgType    string                     `json:"MsgType"`
	MsgContent map[string]json.RawMessage `json:"MsgContent"`
}

func (e rawElement) str(k string) string {
	var s string
	_ = json.Unmarshal(e.MsgContent[k], &s)
	return s
}

func (e rawElement) num(k string) int64 {
	var n int64
	_ = json.Unmarshal(e.MsgContent[k], &n)
	return n
}

// need fails on the first of ks that is missing.
func (e rawElement) need(i int, ks ...string) (int, string) {
	for _, k := range ks {
		if _, ok := e.MsgContent[k]; !ok {
			return 90010, fmt.Sprintf("element %d (%s): %s is required", i, e.MsgType, k)
		}
	}
	return 0, ""
}

// elements checks MsgBody: types, key spelling, required fields, one
// custom element at most, and that loopback media URLs serve what the
// element says. It fills msg.Elements.
func (t *TIM) elements(raw json.RawMessage, msg *TIMMessage) (int, string) {
	if len(raw) == 0 || raw[0] != '[' {
		return 90007, "MsgBody must be an array"
	}
	var items []rawElement
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		return 90002, "MsgBody does not meet the message format"
	}
	customs := 0
	for i, it := range items {
		if code, info := checkKeys(i, it); code != 0 {
			return code, info
		}
		if it.MsgType == typeCustom {
			customs++
		}
		if code, info := t.checkElement(i, it); code != 0 {
			return code, info
		}
	}
	if customs > 1 {
		return 90010, "at most one TIMCustomElem per message"
	}
	decoded, err := decodeElements(raw)
	if err != nil {
		return 90002, "MsgBody does not decode"
	}
	msg.Elements = decoded
	return 0, ""
}

// checkKeys refuses an unknown type and keys its type does not have.
func checkKeys(i int, it rawElement) (int, string) {
	allowed, ok := elementKeys[it.MsgType]
	if !ok {
		return 90002, fmt.Sprintf("element %d: unknown MsgType %q", i, it.MsgType)
	}
	for k := range it.MsgContent {
		if !allowed[k] {
			return 90010, fmt.Sprintf("element %d (%s): unknown key %q", i, it.MsgType, k)
		}
	}
	return 0, ""
}

// checkElement checks the fields each type requires.
func (t *TIM) checkElement(i int, it rawElement) (int, string) {
	switch it.MsgType {
	case timchat.TypeText:
		if code, info := it.need(i, "Text"); code != 0 {
			return code, info
		}
		if it.str("Text") == "" {
			return 90010, "empty Text"
		}
	case timchat.TypeSound, timchat.TypeFile:
		return t.checkDownload(i, it)
	case timchat.TypeImage:
		return t.checkImage(i, it)
	case timchat.TypeVideo:
		return t.checkVideo(i, it)
	}
	return 0, ""
}

// checkDownload checks a sound or file element: URL, UUID, flag 2, and
// what the URL serves.
func (t *TIM) checkDownload(i int, it rawElement) (int, string) {
	if code, info := it.need(i, "Url", "UUID", "Download_Flag"); code != 0 {
		return code, info
	}
	if it.num("Download_Flag") != 2 {
		return 90010, "Download_Flag must be 2"
	}
	size := it.num("Size")
	if it.MsgType == timchat.TypeFile {
		size = it.num("FileSize")
	}
	return t.checkURL(it.str("Url"), size)
}

// checkImage checks an image element and each ImageInfoArray entry.
func (t *TIM) checkImage(i int, it rawElement) (int, string) {
	if code, info := it.need(i, "UUID", "ImageInfoArray"); code != 0 {
		return code, info
	}
	var infos []map[string]json.RawMessage
	if json.Unmarshal(it.MsgContent["ImageInfoArray"], &infos) != nil || len(infos) == 0 {
		return 90010, "ImageInfoArray must be a non-empty array"
	}
	for _, in := range infos {
		for k := range in {
			if !imageInfoKeys[k] {
				return 90010, fmt.Sprintf("element %d: ImageInfoArray has unknown key %q", i, k)
			}
		}
		for _, k := range []string{"URL", "Width", "Height", "Type"} {
			if _, ok := in[k]; !ok {
				return 90010, "ImageInfoArray entries need " + k
			}
		}
		var u string
		var size int64
		_ = json.Unmarshal(in["URL"], &u)
		_ = json.Unmarshal(in["Size"], &size)
		if code, info := t.checkURL(u, size); code != 0 {
			return code, info
		}
	}
	return 0, ""
}

// checkVideo checks a video element: the video and its mandatory
// thumbnail.
func (t *TIM) checkVideo(i int, it rawElement) (int, string) {
	if code, info := it.need(i, "VideoUrl", "VideoUUID", "VideoDownloadFlag", "ThumbUrl", "ThumbUUID", "ThumbDownloadFlag", "ThumbWidth", "ThumbHeight"); code != 0 {
		return code, info
	}
	if it.num("VideoDownloadFlag") != 2 || it.num("ThumbDownloadFlag") != 2 {
		return 90010, "video download flags must be 2"
	}
	if code, info := t.checkURL(it.str("VideoUrl"), it.num("VideoSize")); code != 0 {
		return code, info
	}
	return t.checkURL(it.str("ThumbUrl"), it.num("ThumbSize"))
}

// decodeElements decodes MsgBody, each MsgContent into the struct of its
// MsgType (timchat's for what the SDK sends, this package's for the rest).
func decodeElements(raw json.RawMessage) ([]timchat.Element, error) {
	var items []struct {
		MsgType    string          `json:"MsgType"`
		MsgContent json.RawMessage `json:"MsgContent"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]timchat.Element, len(items))
	for i, it := range items {
		c := contentOf(it.MsgType)
		if len(it.MsgContent) > 0 {
			if err := json.Unmarshal(it.MsgContent, c); err != nil {
				return nil, err
			}
		}
		out[i] = timchat.Element{MsgType: it.MsgType, MsgContent: c}
	}
	return out, nil
}

// contentOf returns a pointer to the MsgContent struct of msgType.
func contentOf(msgType string) any {
	switch msgType {
	case timchat.TypeText:
		return &timchat.TextElem{}
	case timchat.TypeSound:
		return &timchat.SoundElem{}
	case timchat.TypeImage:
		return &timchat.ImageElem{}
	case timchat.TypeFile:
		return &timchat.FileElem{}
	case timchat.TypeVideo:
		return &timchat.VideoElem{}
	case typeLocation:
		return &locationElem{}
	case typeFace:
		return &faceElem{}
	case typeCustom:
		return &customElem{}
	}
	return &map[string]any{}
}

// checkURL fetches a media URL served on loopback (the MediaHost, a test
// server) and checks that it serves size bytes, as a receiving client
// would. Other URLs are not fetched: the emulator reaches no network.
func (t *TIM) checkURL(raw string, size int64) (int, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return 90010, fmt.Sprintf("media URL %q is not an http(s) URL", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return 0, ""
	}
	resp, err := t.hc.Get(raw)
	if err != nil {
		return 90010, "media URL does not answer"
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 90010, fmt.Sprintf("media URL answers HTTP %d", resp.StatusCode)
	}
	if size != 0 && n != size {
		return 90010, fmt.Sprintf("media URL serves %d bytes, the element says %d", n, size)
	}
	return 0, ""
}
