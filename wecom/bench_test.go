package wecom

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/imbridge/middleware"
)

// image2MB is a PNG-signed payload of 2 MB of random bytes: the image path
// reads, hashes and encodes bytes; it does not decode pixels.
func image2MB(b *testing.B) []byte {
	data := make([]byte, ImageLimit)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	copy(data, magicPNG)
	return data
}

// BenchmarkImagePath compares building a 2 MB image message (md5 and
// base64 in one pass, straight into the JSON body) with the two floors: a
// plain base64 encoding of the same bytes, and base64 plus md5 as two
// separate passes (what the message needs at the least).
func BenchmarkImagePath(b *testing.B) {
	data := image2MB(b)
	b.Run("base64-only", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			_ = base64.StdEncoding.EncodeToString(data)
		}
	})
	b.Run("base64+md5-floor", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			_ = base64.StdEncoding.EncodeToString(data)
			_ = md5.Sum(data)
		}
	})
	b.Run("sdk-image-body", func(b *testing.B) {
		msg := &middleware.Message{Items: []middleware.Item{{Type: middleware.ImageItem, Data: data}}}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			md, err := msg.OpenMedia(context.Background(), 0, ImageLimit)
			if err != nil {
				b.Fatal(err)
			}
			body, err := imageBody(context.Background(), &envelope{ChatID: "room"}, nil, md)
			if err != nil || !bytes.Contains(body[:64], []byte(`"msgtype":"image"`)) {
				b.Fatal(err)
			}
		}
	})
}
