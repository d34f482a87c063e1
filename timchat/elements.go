package timchat

// Element type names, as TIM spells them.
const (
	TypeText  = "TIMTextElem"
	TypeSound = "TIMSoundElem"
	TypeImage = "TIMImageElem"
	TypeFile  = "TIMFileElem"
	TypeVideo = "TIMVideoFileElem"
)

// Element is one MsgBody entry. Each content type below has the exact key
// spelling TIM wants (Url in sound and file, URL in image info, VideoUrl in
// video); they are separate structs, never one union whose clashing keys
// Go's encoder would silently drop.
type Element struct {
	MsgType    string `json:"MsgType"`
	MsgContent any    `json:"MsgContent"`
}

// TextElem is a text message.
type TextElem struct {
	Text string `json:"Text"`
}

// SoundElem is a voice message.
type SoundElem struct {
	URL          string `json:"Url"`
	UUID         string `json:"UUID"`
	Size         int64  `json:"Size"`
	Second       int    `json:"Second"`
	DownloadFlag int    `json:"Download_Flag"`
}

// Image formats of ImageElem.ImageFormat.
const (
	ImageJPG   = 1
	ImageGIF   = 2
	ImagePNG   = 3
	ImageBMP   = 4
	ImageOther = 255
)

// ImageElem is an image.
type ImageElem struct {
	UUID           string      `json:"UUID"`
	ImageFormat    int         `json:"ImageFormat"`
	ImageInfoArray []ImageInfo `json:"ImageInfoArray"`
}

// ImageInfo is one size of an image: Type 1 original, 2 large, 3
// thumbnail.
type ImageInfo struct {
	Type   int    `json:"Type"`
	Size   int64  `json:"Size"`
	Width  int    `json:"Width"`
	Height int    `json:"Height"`
	URL    string `json:"URL"`
}

// FileElem is a file.
type FileElem struct {
	URL          string `json:"Url"`
	UUID         string `json:"UUID"`
	FileSize     int64  `json:"FileSize"`
	FileName     string `json:"FileName"`
	DownloadFlag int    `json:"Download_Flag"`
}

// VideoElem is a video with its mandatory thumbnail.
type VideoElem struct {
	VideoURL          string `json:"VideoUrl"`
	VideoUUID         string `json:"VideoUUID"`
	VideoSize         int64  `json:"VideoSize"`
	VideoSecond       int    `json:"VideoSecond"`
	VideoFormat       string `json:"VideoFormat"`
	VideoDownloadFlag int    `json:"VideoDownloadFlag"`
	ThumbURL          string `json:"ThumbUrl"`
	ThumbUUID         string `json:"ThumbUUID"`
	ThumbSize         int64  `json:"ThumbSize"`
	ThumbWidth        int    `json:"ThumbWidth"`
	ThumbHeight       int    `json:"ThumbHeight"`
	ThumbFormat       string `json:"ThumbFormat"`
	ThumbDownloadFlag int    `json:"ThumbDownloadFlag"`
}

// OfflinePushInfo is what a phone shows for a message while the app is
// closed.
type OfflinePushInfo struct {
	// PushFlag 0 pushes, 1 does not.
	PushFlag    int            `json:"PushFlag"`
	Title       string         `json:"Title,omitempty"`
	Desc        string         `json:"Desc,omitempty"`
	Ext         string         `json:"Ext,omitempty"`
	AndroidInfo map[string]any `json:"AndroidInfo,omitempty"`
	ApnsInfo    map[string]any `json:"ApnsInfo,omitempty"`
}
