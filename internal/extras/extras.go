// Package extras reads a backend's own options out of
// middleware.Message.Extras.
package extras

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/imbridge/middleware"
)

// Option wraps a setter of a backend's option struct T as a
// middleware.Option. T is unexported in each backend, so one backend never
// picks up another's options.
func Option[T any](set func(*T)) middleware.Option { return middleware.BackendOption(set) }

// Read applies, in order, every setter of T found in extras.
func Read[T any](extras []any) T {
	var o T
	for _, e := range extras {
		if set, ok := e.(func(*T)); ok {
			set(&o)
		}
	}
	return o
}

// Encode stores the options of T among x as T's JSON, for an outbox (see
// outbox.OptionCodec): nil when none is set.
func Encode[T any](x []any) ([]byte, error) {
	o := Read[T](x)
	if reflect.ValueOf(o).IsZero() {
		return nil, nil
	}
	return json.Marshal(o)
}

// Decode reads back what Encode stored as an Option that sets T whole. A
// field T does not have is an error naming backend: the push would
// otherwise go out without it.
func Decode[T any](backend string, data []byte) (middleware.Option, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var o T
	if err := d.Decode(&o); err != nil {
		return nil, fmt.Errorf("%s: stored options: %w", backend, err)
	}
	return Option(func(t *T) { *t = o }), nil
}
