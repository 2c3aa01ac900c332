package clientip

import (
	"net"
	"net/http"
	"testing"
)

func TestIP(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	rs := New([]*net.IPNet{proxies})
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct peer, header ignored", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"trusted proxy", "10.0.0.2:443", "198.51.100.1", "198.51.100.1"},
		{"forged left part ignored", "10.0.0.2:443", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"chain of proxies", "10.0.0.2:443", "198.51.100.1, 10.0.0.9", "198.51.100.1"},
		{"proxy without header", "10.0.0.2:443", "", "10.0.0.2"},
		{"malformed hop", "10.0.0.2:443", "garbage", "10.0.0.2"},
		{"ipv6 peer", "[2001:db8::1]:443", "", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := rs.IP(r); got != tt.want {
				t.Errorf("IP = %q, want %q", got, tt.want)
			}
		})
	}
}
