package authn

import "net/netip"

// Network is how precisely a remembered device is tied to where it was remembered: the exact
// address (the seeds' default), a prefix (/24 for IPv4, /56 for IPv6, for people whose provider
// changes their address often), or not at all.
func Network(ip, mode string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	switch mode {
	case "off":
		return "*"
	case "prefix":
		bits := 24
		if a.Is6() && !a.Is4In6() {
			bits = 56
		}
		p, err := a.Unmap().Prefix(bits)
		if err != nil {
			return a.String()
		}
		return p.String()
	default:
		return a.Unmap().String()
	}
}
