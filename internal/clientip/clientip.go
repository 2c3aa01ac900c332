// Package clientip owns the one answer to "which address is this request from?". Lockout, send
// caps, remembered devices and the audit log all use it, so they can never disagree.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds the client address of a request.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that believes X-Forwarded-For only from peers inside trusted.
func New(trusted []*net.IPNet) *Resolver {
	r := &Resolver{}
	for _, n := range trusted {
		ones, _ := n.Mask.Size()
		if a, ok := netip.AddrFromSlice(n.IP); ok {
			r.trusted = append(r.trusted, netip.PrefixFrom(a.Unmap(), ones).Masked())
		}
	}
	return r
}

// IP returns the peer address, unless the peer is a trusted proxy: then the rightmost address
// of X-Forwarded-For that is not itself a trusted proxy. Anything a client could forge further
// left is ignored.
func (rs *Resolver) IP(r *http.Request) string {
	peer := parse(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !rs.isTrusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a := parse(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			break // a malformed hop: stop trusting the chain here
		}
		if !rs.isTrusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (rs *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range rs.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func parse(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
