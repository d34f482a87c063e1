package timchat

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"image"
	_ "image/gif"  // image.DecodeConfig reads GIF sizes
	_ "image/jpeg" // and JPEG
	_ "image/png"  // and PNG
	"io"
	"path"
	"strings"
	"time"

	"github.com/imbridge/middleware"
)

// MediaLimit is the largest media item this backend takes, in bytes.
const MediaLimit = 100 << 20

// probeLimit bounds the read that finds an image's size: DecodeConfig
// needs the header only, which a JPEG may put after its metadata.
const probeLimit = 256 << 10

// hosted is a media item with the URL clients download it from.
type hosted struct {
	url    string
	uuid   string
	size   int64
	name   string
	mime   string
	width  int
	height int
	format string // "jpeg", "png", "gif" for images
}

// elements turns every item into its MsgBody elements (a media item's
// caption is a text element right after it), hosting local media first.
// descs holds the offline-push text of media ("[Image]", ...).
func (c *Client) elements(ctx context.Context, msg *middleware.Message, o *Options) ([][]Element, []string, error) {
	elems := make([][]Element, len(msg.Items))
	descs := make([]string, len(msg.Items))
	for i, it := range msg.Items {
		if !it.Type.IsMedia() {
			elems[i] = []Element{{MsgType: TypeText, MsgContent: TextElem{Text: it.Text}}}
			continue
		}
		el, desc, err := c.mediaElement(ctx, msg, o, i, it)
		if err != nil {
			return nil, nil, err
		}
		elems[i], descs[i] = []Element{el}, desc
		if it.Caption != "" {
			elems[i] = append(elems[i], Element{MsgType: TypeText, MsgContent: TextElem{Text: it.Caption}})
		}
	}
	return elems, descs, nil
}

// mediaElement hosts media item i and returns its element and its
// offline-push description.
func (c *Client) mediaElement(ctx context.Context, msg *middleware.Message, o *Options, i int, it middleware.Item) (Element, string, error) {
	var el Element
	var desc string
	h, err := c.host(ctx, msg, i, it)
	if err != nil {
		return el, "", err
	}
	switch it.Type {
	case middleware.ImageItem:
		infos := make([]ImageInfo, 3)
		for t := range infos {
			infos[t] = ImageInfo{Type: t + 1, Size: h.size, Width: h.width, Height: h.height, URL: h.url}
		}
		el = Element{MsgType: TypeImage, MsgContent: ImageElem{UUID: h.uuid, ImageFormat: imageFormat(h.format), ImageInfoArray: infos}}
		desc = "[Image]"
	case middleware.VoiceItem:
		el = Element{MsgType: TypeSound, MsgContent: SoundElem{URL: h.url, UUID: h.uuid, Size: h.size, Second: o.VoiceSeconds, DownloadFlag: 2}}
		desc = "[Voice]"
	case middleware.FileItem:
		el = Element{MsgType: TypeFile, MsgContent: FileElem{URL: h.url, UUID: h.uuid, FileSize: h.size, FileName: h.name, DownloadFlag: 2}}
		desc = "[File] " + h.name
	case middleware.VideoItem:
		th, err := c.host(ctx, msg, -1, middleware.Item{Type: middleware.ImageItem, Source: thumbnailOf(it, o)})
		if err != nil {
			return el, "", fmt.Errorf("timchat: thumbnail of item %d: %w", i, err)
		}
		el = Element{MsgType: TypeVideo, MsgContent: VideoElem{
			VideoURL: h.url, VideoUUID: h.uuid, VideoSize: h.size, VideoSecond: o.VideoSeconds,
			VideoFormat: videoFormat(h.name, h.mime), VideoDownloadFlag: 2,
			ThumbURL: th.url, ThumbUUID: th.uuid, ThumbSize: th.size, ThumbWidth: th.width, ThumbHeight: th.height,
			ThumbFormat: strings.ToUpper(thumbFormat(th.format)), ThumbDownloadFlag: 2,
		}}
		desc = "[Video]"
	}
	return el, desc, nil
}

// host finds the URL and metadata of it, item i of msg (-1: an extra item
// such as a thumbnail): a remote source as it is (reading no more than an
// image header), a local one through the Uploader.
func (c *Client) host(ctx context.Context, msg *middleware.Message, i int, it middleware.Item) (*hosted, error) {
	var md *middleware.Media
	var err error
	if i < 0 {
		md, err = msg.OpenSource(ctx, it, MediaLimit)
	} else {
		md, err = msg.OpenMedia(ctx, i, MediaLimit)
	}
	if err != nil {
		return nil, err
	}
	defer md.Close()
	h := &hosted{size: md.Size, name: md.Name, mime: md.MIME}
	if md.Type == middleware.ImageItem {
		r, err := md.Open(ctx)
		if err != nil {
			return nil, err
		}
		cfg, format, err := image.DecodeConfig(io.LimitReader(r, probeLimit))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: timchat: item %d: cannot read the image size (TIM needs it; JPG, PNG and GIF are readable)", middleware.ErrInvalidItem, i)
		}
		h.width, h.height, h.format = cfg.Width, cfg.Height, format
	}
	src := it.Source
	if md.Remote {
		sum := md5.Sum([]byte(src))
		h.url, h.uuid = src, hex.EncodeToString(sum[:])
		return h, nil
	}
	if c.uploader == nil {
		return nil, noUploader(fmt.Sprintf("item %d", i))
	}
	r, err := md.Open(ctx)
	if err != nil {
		return nil, err
	}
	sum := md5.New()
	_, err = io.Copy(sum, r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("timchat: reading item %d: %w", i, err)
	}
	h.uuid = hex.EncodeToString(sum.Sum(nil))
	r, err = md.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	start := time.Now()
	h.url, err = c.uploader.Upload(ctx, md.Track(r), UploadMeta{Name: md.Name, MIME: md.MIME, Size: md.Size, MD5: h.uuid, Kind: md.Type})
	if o := middleware.ObserverFrom(ctx); o != nil {
		o.Upload(ctx, middleware.UploadInfo{Backend: IM, Type: md.Type, Bytes: md.Size, Duration: time.Since(start)})
	}
	if err != nil {
		return nil, fmt.Errorf("timchat: hosting item %d: %w", i, err)
	}
	return h, nil
}

func imageFormat(f string) int {
	switch f {
	case "jpeg":
		return ImageJPG
	case "gif":
		return ImageGIF
	case "png":
		return ImagePNG
	case "bmp":
		return ImageBMP
	}
	return ImageOther
}

func thumbFormat(f string) string {
	if f == "jpeg" {
		return "jpg"
	}
	return f
}

func videoFormat(name, mime string) string {
	if ext := strings.TrimPrefix(path.Ext(name), "."); ext != "" {
		return strings.ToLower(ext)
	}
	if _, sub, ok := strings.Cut(mime, "/"); ok && sub != "octet-stream" {
		return sub
	}
	return "mp4"
}
