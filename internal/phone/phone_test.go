package phone

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+1 202 555 0123", "+12025550123", true},
		{"(202) 555-0123", "+12025550123", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"12", "", false},
		{"not a number", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in, "US")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
