package oidcop

import "testing"

func TestValidateRedirectURI(t *testing.T) {
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://portal.example.org/callback", true},
		{"https://portal.example.org/cb?x=1", true},
		{"http://localhost:3000/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://[::1]:8080/cb", true},
		{"http://portal.example.org/cb", false},
		{"https://portal.example.org/cb#frag", false},
		{"/relative/cb", false},
		{"portal.example.org/cb", false},
		{"javascript:alert(1)", false},
		{"https://user:pw@portal.example.org/cb", false},
		{"", false},
	}
	for _, tt := range tests {
		if err := ValidateRedirectURI(tt.uri); (err == nil) != tt.ok {
			t.Errorf("ValidateRedirectURI(%q) error = %v, want ok=%v", tt.uri, err, tt.ok)
		}
	}
}
