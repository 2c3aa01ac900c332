package oidcop

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// ValidateRedirectURI checks a redirect or post-logout URI at registration: absolute, no
// fragment, and https — or plain http only to a loopback host (native apps and development,
// RFC 8252 §7.3).
func ValidateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL (example: https://portal.example.org/callback)", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q must not contain a fragment (#…)", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain a user name or password", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses http; only https is allowed, except for localhost / 127.0.0.1 / [::1]", raw)
	}
	return fmt.Errorf("%q must use https (or http on a loopback address)", raw)
}

// IsLoopbackHost reports whether host is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
