package place

import (
	"net/netip"
	"testing"
)

type fixed map[string]Place

func (f fixed) Locate(ip netip.Addr) Place { return f[ip.String()] }

func TestLocate(t *testing.T) {
	db := fixed{"81.2.69.142": {Kind: Located, City: "London", Country: "United Kingdom"}}
	chain := Chain{Builtin{}, db}
	for _, tc := range []struct {
		ip   string
		want Place
	}{
		{"127.0.0.1", Place{Kind: Here}},
		{"::1", Place{Kind: Here}},
		{"::ffff:127.0.0.1", Place{Kind: Here}},
		{"10.1.2.3", Place{Kind: Local}},
		{"172.16.0.9", Place{Kind: Local}},
		{"192.168.1.10", Place{Kind: Local}},
		{"fd00::1", Place{Kind: Local}},
		{"fe80::1", Place{Kind: Local}},
		{"169.254.1.1", Place{Kind: Local}},
		{"100.64.3.4", Place{Kind: Local}},
		{"81.2.69.142", Place{Kind: Located, City: "London", Country: "United Kingdom"}},
		{"8.8.8.8", Place{}},
		{"", Place{}},
		{"not an address", Place{}},
	} {
		if got := Of(chain, tc.ip); got != tc.want {
			t.Errorf("Of(%q) = %+v, want %+v", tc.ip, got, tc.want)
		}
	}
	if got := Of(nil, "192.168.0.1"); got.Kind != Local {
		t.Errorf("without a locator, the built-in ranges still answer: %+v", got)
	}
	if got := Of(nil, "81.2.69.142"); got.Kind != Unknown {
		t.Errorf("without a database a public address is unknown: %+v", got)
	}
}
