package middleware

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SourcePolicy says which media sources a push may read. Bots that relay
// what strangers typed (a URL in a chat message, a path in a command) must
// not let them make the SDK read a local file, or fetch a cloud metadata
// address or an internal dashboard, and post the result to the chat.
// base64://, data: URIs and Item.Data carry their bytes with them and are
// always allowed.
type SourcePolicy struct {
	// LocalFiles allows local paths and file:// URLs.
	LocalFiles bool
	// PrivateNetworks allows URL fetches to reach loopback, private,
	// link-local (169.254/16, fe80::/10), carrier-grade NAT (100.64/10),
	// unique-local (fc00::/7), multicast and unspecified addresses. When
	// false, the address is checked on the IP actually dialled, for every
	// connection and every redirect, so DNS rebinding cannot pass; fetches
	// then go direct, not through HTTP(S)_PROXY (a proxy would dial the
	// address itself, unchecked).
	PrivateNetworks bool
	// Hosts, when not empty, are the only hosts URL sources and their
	// redirects may name: "cdn.example.com" exactly, "*.example.com" for
	// any subdomain (not example.com itself).
	Hosts []string
	// MaxRedirects is how many redirects a URL fetch follows; each hop is
	// checked again. 0 follows none.
	MaxRedirects int
}

// TrustedSources reads every source form, as autClaw does: the default,
// for bots whose sources come from their own code or configuration
// ("./daily.png", an internal dashboard's chart URL).
var TrustedSources = SourcePolicy{LocalFiles: true, PrivateNetworks: true, MaxRedirects: 5}

// UntrustedSources is for sources that come from chat input or any other
// stranger: public http(s) URLs only, three redirects at most.
var UntrustedSources = SourcePolicy{MaxRedirects: 3}

// trusted is TrustedSources as the Client's default. A copy, so that
// writing to the exported variable changes nothing behind a caller's back.
func trusted() SourcePolicy {
	return SourcePolicy{LocalFiles: true, PrivateNetworks: true, MaxRedirects: 5}
}

// WithDefaultSourcePolicy sets the policy of every push of the Client that
// has no WithSourcePolicy. Default: TrustedSources. Bots that relay chat
// input add WithDefaultSourcePolicy(middleware.UntrustedSources).
func WithDefaultSourcePolicy(p SourcePolicy) ClientOption {
	return func(c *clientConfig) error {
		if err := p.check(); err != nil {
			return fmt.Errorf("%w: WithDefaultSourcePolicy: %w", ErrInvalidOption, err)
		}
		c.policy = p.clone()
		c.policySet = true
		return nil
	}
}

// WithSourcePolicy sets the policy of this call's media sources; it beats
// the Client's WithDefaultSourcePolicy. Default: the Client's policy.
func WithSourcePolicy(p SourcePolicy) Option {
	return func(c *callConfig) {
		if err := p.check(); err != nil {
			c.fail(fmt.Errorf("%w: WithSourcePolicy: %w", ErrInvalidOption, err))
			return
		}
		cp := p.clone()
		c.Policy = &cp
	}
}

func (p SourcePolicy) clone() SourcePolicy {
	p.Hosts = append([]string(nil), p.Hosts...)
	for i, h := range p.Hosts {
		p.Hosts[i] = strings.TrimSuffix(strings.ToLower(h), ".")
	}
	return p
}

func (p SourcePolicy) check() error {
	if p.MaxRedirects < 0 {
		return fmt.Errorf("negative MaxRedirects %d", p.MaxRedirects)
	}
	for i, h := range p.Hosts {
		rest := strings.TrimPrefix(h, "*.")
		if rest == "" || strings.ContainsAny(rest, "*/:@ ") {
			return fmt.Errorf("host %d of Hosts, %q, is not a host name or *.domain", i, h)
		}
	}
	return nil
}

// policyError is a source the policy refuses. It is ErrInvalidItem.
type policyError struct{ reason string }

func (e *policyError) Error() string { return "refused by the source policy: " + e.reason }
func (e *policyError) Unwrap() error { return ErrInvalidItem }

func refused(format string, args ...any) error {
	return &policyError{reason: fmt.Sprintf(format, args...)}
}

// checkURL checks what can be known of u without a connection: its scheme,
// its host against Hosts, and an address literal or localhost name.
func (p SourcePolicy) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return refused("scheme %q is not http or https", u.Scheme)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if len(p.Hosts) > 0 && !p.allowsHost(host) {
		return refused("host %q is not in the policy's Hosts", host)
	}
	if p.PrivateNetworks {
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return refused("host %q is loopback", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if reason, bad := blockedAddr(ip); bad {
			return refused("address %s is %s", ip, reason)
		}
	}
	return nil
}

func (p SourcePolicy) allowsHost(host string) bool {
	for _, h := range p.Hosts {
		if sub, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+sub) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

var (
	cgnat  = netip.MustParsePrefix("100.64.0.0/10")
	thisV4 = netip.MustParsePrefix("0.0.0.0/8")
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
)

// blockedAddr says why ip is not a public address, if it is not.
func blockedAddr(ip netip.Addr) (string, bool) {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback", true
	case ip.IsPrivate():
		return "private", true
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local", true
	case ip.IsUnspecified(), thisV4.Contains(ip):
		return "unspecified", true
	case ip.IsMulticast(), ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "multicast or broadcast", true
	case cgnat.Contains(ip):
		return "carrier-grade NAT", true
	case nat64.Contains(ip):
		b := ip.As16()
		return blockedAddr(netip.AddrFrom4([4]byte(b[12:])))
	}
	return "", false
}

// checkDialled refuses a connection to a non-public address. It runs as
// net.Dialer.Control, after DNS and before the connection is made.
func checkDialled(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return refused("cannot read the dialled address")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return refused("cannot read the dialled address")
	}
	if reason, bad := blockedAddr(ip); bad {
		return refused("address %s is %s", ip.Unmap(), reason)
	}
	return nil
}

// fetcher makes the HTTP clients that read URL sources: the Client's
// WithHTTPClient (or net/http's defaults) with the policy applied.
type fetcher struct {
	base *http.Client
	// guarded holds, per *http.Transport, a clone that checks every
	// dialled address, so that connections are pooled across pushes.
	guarded sync.Map
}

// client returns the *http.Client that fetches URL sources under p.
func (f *fetcher) client(p SourcePolicy) *http.Client {
	c := &http.Client{
		Transport: &guardTransport{f: f, p: p},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > p.MaxRedirects {
				return refused("more than %d redirects", p.MaxRedirects)
			}
			return p.checkURL(req.URL)
		},
	}
	if f != nil && f.base != nil {
		c.Timeout, c.Jar = f.base.Timeout, f.base.Jar
	}
	return c
}

// guardTransport checks each request's URL and, when private networks are
// refused, sends it through a transport whose dialer checks the address.
type guardTransport struct {
	f *fetcher
	p SourcePolicy
}

func (g *guardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := g.p.checkURL(r.URL); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	var rt http.RoundTripper = http.DefaultTransport
	if g.f != nil && g.f.base != nil && g.f.base.Transport != nil {
		rt = g.f.base.Transport
	}
	if !g.p.PrivateNetworks {
		if t, ok := rt.(*http.Transport); ok {
			rt = g.f.guard(t)
		}
		// Any other RoundTripper (httpmock, an HTTP/3 client) makes its own
		// connections: only the URL check above applies to it.
	}
	return rt.RoundTrip(r)
}

// guard returns t's clone that checks every address it dials.
func (f *fetcher) guard(t *http.Transport) *http.Transport {
	if f == nil {
		return guardedClone(t)
	}
	if g, ok := f.guarded.Load(t); ok {
		return g.(*http.Transport)
	}
	g, _ := f.guarded.LoadOrStore(t, guardedClone(t))
	return g.(*http.Transport)
}

func guardedClone(t *http.Transport) *http.Transport {
	g := t.Clone()
	g.Proxy = nil
	// DialContext and DialTLSContext, set below, take priority over the
	// deprecated Dial and DialTLS, which a caller's transport may still set.
	//lint:ignore SA1019 read to be wrapped, see above
	dial, dialTLS := t.Dial, t.DialTLS
	switch {
	case t.DialContext != nil:
		// A custom dialer: check the address it connected to.
		g.DialContext = checkedDial(t.DialContext)
	case dial != nil:
		g.DialContext = checkedDial(func(_ context.Context, network, addr string) (net.Conn, error) { return dial(network, addr) })
	default:
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: checkDialled}
		g.DialContext = d.DialContext
	}
	switch {
	case t.DialTLSContext != nil:
		g.DialTLSContext = checkedDial(t.DialTLSContext)
	case dialTLS != nil:
		g.DialTLSContext = checkedDial(func(_ context.Context, network, addr string) (net.Conn, error) { return dialTLS(network, addr) })
	}
	return g
}

// checkedDial wraps a dialer whose addresses cannot be checked before the
// connection: the connection is closed, unused, if its peer is refused.
func checkedDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := checkDialled(network, conn.RemoteAddr().String(), nil); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}
