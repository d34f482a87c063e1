package imtest

import (
	"net"
	"net/http"
	"net/http/httptest"
)

// serve starts h on l, or on a random loopback port when l is nil, as
// httptest.NewServer does.
func serve(h http.Handler, l net.Listener) *httptest.Server {
	if l == nil {
		return httptest.NewServer(h)
	}
	s := httptest.NewUnstartedServer(h)
	_ = s.Listener.Close()
	s.Listener = l
	s.Start()
	return s
}
