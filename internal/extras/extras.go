// Package extras reads a backend's own options out of
// middleware.Message.Extras.
package extras

import "github.com/imbridge/middleware"

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
