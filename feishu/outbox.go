package feishu

import (
	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/internal/extras"
)

// EncodeOptions stores this backend's options among x for an outbox (see
// outbox.OptionCodec): Options as it is; nil when there are none.
func (c *Client) EncodeOptions(x []any) ([]byte, error) { return extras.Encode[Options](x) }

// DecodeOptions reads back what EncodeOptions stored. A field this version
// does not know is an error: the push would otherwise go out without it.
func (c *Client) DecodeOptions(data []byte) (middleware.Option, error) {
	return extras.Decode[Options]("feishu", data)
}

// Messages says how many Feishu messages msg takes, without I/O (see
// outbox.Planner): a text over the body limit takes several.
func (c *Client) Messages(msg *middleware.Message) (int, error) {
	parts, err := c.plan(msg)
	return len(parts), err
}
