// Package extras reads a backend's own options out of
// middleware.Message.Extras.
package extras

import (
	"bytes"
	"encoding/json"
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

// Encode stores the options of T among x as the JSON of view(o), for an
// outbox (see outbox.OptionCodec): nil when none is set.
func Encode[T, V any](x []any, view func(T) V) ([]byte, error) {
	o := Read[T](x)
	if reflect.ValueOf(o).IsZero() {
		return nil, nil
	}
	return json.Marshal(view(o))
}

// Decode reads back what Encode stored as an Option that sets T whole. A
// field V does not have is an error: the push would otherwise go out
// without it.
func Decode[T, V any](data []byte, from func(V) T) (middleware.Option, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var v V
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	o := from(v)
	return Option(func(t *T) { *t = o }), nil
}
