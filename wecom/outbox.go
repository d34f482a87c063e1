package wecom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/imbridge/middleware"
)

// EncodeOptions stores this backend's options among extras for a
// middleware.Outbox (see middleware.OptionCodec): nil when there are none.
func (c *Client) EncodeOptions(extras []any) ([]byte, error) {
	o := readOpts(extras)
	if reflect.ValueOf(o).IsZero() {
		return nil, nil
	}
	return json.Marshal(optionsOf(o))
}

// DecodeOptions reads back what EncodeOptions stored. A field this version
// does not know is an error: the push would otherwise go out without it.
func (c *Client) DecodeOptions(data []byte) (middleware.Option, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var v Options
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("wecom: stored options: %w", err)
	}
	so := sendOpts{
		format: v.Format, mentions: v.Mentions, mobiles: v.MentionMobiles, mentionAll: v.MentionAll,
		visibleTo: v.VisibleTo, postID: v.PostID, noSplit: v.NoSplit, attachments: v.Buttons,
		atShortName: v.AtShortName, titleHeading: v.TitleAsHeading,
	}
	return backendOpt(func(o *sendOpts) { *o = so }), nil
}

// Messages says how many WeCom messages msg takes, without I/O (see
// middleware.Planner): a text over the size limit takes several.
func (c *Client) Messages(msg *middleware.Message) (int, error) {
	o := readOpts(msg.Extras)
	steps, _, err := c.plan(msg, &o)
	return len(steps), err
}
