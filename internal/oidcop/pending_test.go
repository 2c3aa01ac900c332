package oidcop

import (
	"fmt"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

// TestPendingRequests: a pending request is served until it expires or is forgotten, a done one
// is never remembered, callers get copies, and the memory stays bounded.
func TestPendingRequests(t *testing.T) {
	var p pendingRequests
	p.put(&store.AuthRequest{ID: "a", ClientID: "c", ExpiresAt: 100})
	p.put(&store.AuthRequest{ID: "done", Done: true, ExpiresAt: 100})
	tests := []struct {
		id   string
		now  int64
		want bool
	}{
		{"a", 99, true},
		{"done", 99, false},
		{"unknown", 99, false},
		{"a", 100, false}, // expired, and dropped
		{"a", 50, false},
	}
	for _, tt := range tests {
		if _, ok := p.get(tt.id, tt.now); ok != tt.want {
			t.Errorf("get(%q, %d) = %v, want %v", tt.id, tt.now, ok, tt.want)
		}
	}

	p.put(&store.AuthRequest{ID: "b", ClientID: "c", ExpiresAt: 100})
	got, _ := p.get("b", 1)
	got.ClientID, got.Done = "changed", true
	if again, ok := p.get("b", 1); !ok || again.ClientID != "c" || again.Done {
		t.Errorf("a caller's change reached the remembered request: %+v", again)
	}
	p.forget("b")
	if _, ok := p.get("b", 1); ok {
		t.Error("a forgotten request is still served")
	}

	for i := range maxPending + 10 {
		p.put(&store.AuthRequest{ID: fmt.Sprint(i), ExpiresAt: 1 << 40})
	}
	if n := len(p.m); n > maxPending {
		t.Errorf("%d requests remembered, the bound is %d", n, maxPending)
	}
	if _, ok := p.get(fmt.Sprint(maxPending+9), 1); !ok {
		t.Error("the newest request was not remembered")
	}
}
