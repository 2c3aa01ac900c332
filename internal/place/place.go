// Package place owns the approximate place of an IP address, as the account console shows it
// beside a session or a security event ("Local network", "Lisbon, Portugal").
//
// There is no network lookup: an address is answered by the built-in ranges (loopback, private,
// link-local, shared address space) and, where an operator plugs one in, by a Locator over a
// local database. The console never shows more than a city, and says "Unknown place" rather
// than guess.
package place

import "net/netip"

// Kind says what sort of answer a Place is.
type Kind string

const (
	Unknown Kind = ""        // nothing is known of the address
	Here    Kind = "here"    // a loopback address: this network, the server's own machine
	Local   Kind = "local"   // a private, link-local or shared address: a local network
	Located Kind = "located" // a database placed it: City, Region, Country say where
)

// Place is an approximate place.
type Place struct {
	Kind    Kind
	City    string
	Region  string
	Country string // the country's name, in the database's words
}

// Locator answers the approximate place of an address (Unknown when it cannot).
type Locator interface {
	Locate(ip netip.Addr) Place
}

// Builtin answers the ranges every installation knows without a database.
type Builtin struct{}

var _ Locator = Builtin{}

// shared is RFC 6598's carrier-grade NAT space, which netip does not call private.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// Locate answers loopback as Here and private, link-local and shared addresses as Local.
func (Builtin) Locate(ip netip.Addr) Place {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return Place{}
	case ip.IsLoopback():
		return Place{Kind: Here}
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), shared.Contains(ip):
		return Place{Kind: Local}
	}
	return Place{}
}

// Chain asks each Locator in turn and returns the first answer that is not Unknown.
type Chain []Locator

// Locate implements Locator.
func (c Chain) Locate(ip netip.Addr) Place {
	for _, l := range c {
		if l == nil {
			continue
		}
		if p := l.Locate(ip); p.Kind != Unknown {
			return p
		}
	}
	return Place{}
}

// Of parses s (an address as the audit trail and sessions keep it) and locates it with l, or
// with the built-in ranges alone when l is nil.
func Of(l Locator, s string) Place {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return Place{}
	}
	if l == nil {
		l = Builtin{}
	}
	return l.Locate(ip)
}
