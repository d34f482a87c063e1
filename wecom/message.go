package wecom

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/imbridge/middleware/internal/jsonx"
)

// envelope is a WeCom send body. Exactly one content field is set.
type envelope struct {
	ChatID        string              `json:"chatid,omitempty"`
	MsgType       string              `json:"msgtype"`
	VisibleToUser string              `json:"visible_to_user,omitempty"`
	PostID        string              `json:"post_id,omitempty"`
	Text          *textContent        `json:"text,omitempty"`
	Markdown      *mdContent          `json:"markdown,omitempty"`
	MarkdownV2    *mdV2Content        `json:"markdown_v2,omitempty"`
	Image         *imageContent       `json:"image,omitempty"`
	File          *mediaRef           `json:"file,omitempty"`
	Voice         *mediaRef           `json:"voice,omitempty"`
	News          *newsContent        `json:"news,omitempty"`
	TemplateCard  *TemplateCard       `json:"template_card,omitempty"`
	MiniProgram   *miniProgramContent `json:"miniprogram,omitempty"`
}

type textContent struct {
	Content             string   `json:"content"`
	MentionedList       []string `json:"mentioned_list,omitempty"`
	MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
}

type mdContent struct {
	Content     string       `json:"content"`
	AtShortName bool         `json:"at_short_name,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

type mdV2Content struct {
	Content string `json:"content"`
}

type imageContent struct {
	Base64 string `json:"base64"`
	MD5    string `json:"md5"`
}

type mediaRef struct {
	MediaID string `json:"media_id"`
}

type newsContent struct {
	Articles []Article `json:"articles"`
}

// Attachment is a row of markdown buttons.
type Attachment struct {
	CallbackID string   `json:"callback_id"`
	Actions    []Action `json:"actions"`
}

// Action is one markdown button.
type Action struct {
	// Type is "button"; empty means "button".
	Type        string `json:"type"`
	Name        string `json:"name"`
	Text        string `json:"text"`
	Value       string `json:"value"`
	ReplaceText string `json:"replace_text"`
	BorderColor string `json:"border_color,omitempty"`
	TextColor   string `json:"text_color,omitempty"`
}

// marshalBody encodes env with the caller's fields merged at the top level.
func marshalBody(env *envelope, fields map[string]any) ([]byte, error) {
	b, err := jsonx.Marshal(env, fields)
	if err != nil {
		return nil, fmt.Errorf("wecom: %w", err)
	}
	return b, nil
}

// mentionTags renders users as markdown mentions.
func mentionTags(users []string) string {
	var b strings.Builder
	for _, u := range users {
		b.WriteString("<@")
		b.WriteString(u)
		b.WriteString(">")
	}
	return b.String()
}

// errNilContext refuses a nil context before anything else happens.
var errNilContext = errors.New("wecom: nil context")

// invalidUTF8 finds a string in v (structs, pointers, slices, maps) that
// is not valid UTF-8, which encoding/json would replace with U+FFFD and so
// send something else than what was written. It returns the field's path.
func invalidUTF8(v any) (string, bool) {
	return findInvalid(reflect.ValueOf(v), "")
}

func findInvalid(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return path, !utf8.ValidString(v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findInvalid(v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				if p, bad := findInvalid(v.Field(i), join(path, f.Name)); bad {
					return p, true
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p, bad := findInvalid(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); bad {
				return p, true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if p, bad := findInvalid(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key())); bad {
				return p, true
			}
		}
	}
	return "", false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
