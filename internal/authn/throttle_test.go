package authn

import (
	"testing"
	"time"
)

func TestDelays(t *testing.T) {
	tests := []struct {
		n    int
		acct time.Duration
		addr time.Duration
	}{
		{1, 0, 0}, {5, 0, 0}, {6, 2 * time.Second, 0}, {7, 4 * time.Second, 0},
		{14, 512 * time.Second, 0}, {15, maxDelay, 0}, {100, maxDelay, maxDelay}, {31, maxDelay, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := AccountDelay(tt.n); got != tt.acct {
			t.Errorf("AccountDelay(%d) = %v, want %v", tt.n, got, tt.acct)
		}
		if got := AddressDelay(tt.n); got != tt.addr {
			t.Errorf("AddressDelay(%d) = %v, want %v", tt.n, got, tt.addr)
		}
	}
	a, _ := ThrottleKeys("t1", " Pat@Example.org ", "203.0.113.9")
	b, _ := ThrottleKeys("t1", "pat@example.org", "203.0.113.9")
	if a != b {
		t.Error("the account key must not depend on case or spaces")
	}
}
