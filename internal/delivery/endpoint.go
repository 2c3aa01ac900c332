package delivery

import (
	"fmt"
	"net"
	"net/url"
)

// checkEndpoint refuses a provider URL that would carry codes or credentials in clear: it must
// be https, except to this machine (a local relay, or a test fake on 127.0.0.1).
func checkEndpoint(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an absolute URL", what, raw)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%s: %q must be an https URL (http only to localhost)", what, raw)
}
