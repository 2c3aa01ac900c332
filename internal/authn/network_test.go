package authn

import "testing"

func TestNetwork(t *testing.T) {
	tests := []struct{ ip, mode, want string }{
		{"203.0.113.7", "exact", "203.0.113.7"},
		{"203.0.113.7", "prefix", "203.0.113.0/24"},
		{"2001:db8:1:2:3::9", "prefix", "2001:db8:1::/56"}, {"2001:db8:1:2ff:3::9", "prefix", "2001:db8:1:200::/56"},
		{"::ffff:203.0.113.7", "exact", "203.0.113.7"},
		{"203.0.113.7", "off", "*"},
	}
	for _, tt := range tests {
		if got := Network(tt.ip, tt.mode); got != tt.want {
			t.Errorf("Network(%s, %s) = %s, want %s", tt.ip, tt.mode, got, tt.want)
		}
	}
}
