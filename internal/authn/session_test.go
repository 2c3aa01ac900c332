package authn

import (
	"testing"
	"time"
)

func TestReuseAllowed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	u := func(v uint) *uint { return &v }
	base := Reuse{Now: now, AuthTime: now.Add(-10 * time.Minute), SessionACR: ACRSingleFactor, SessionUserID: "u1"}
	tests := []struct {
		name string
		mod  func(r *Reuse)
		want bool
	}{
		{"plain reuse", func(r *Reuse) {}, true},
		{"prompt=login", func(r *Reuse) { r.PromptLogin = true }, false},
		{"max_age satisfied", func(r *Reuse) { r.MaxAge = u(3600) }, true},
		{"max_age exceeded", func(r *Reuse) { r.MaxAge = u(60) }, false},
		{"max_age=0", func(r *Reuse) { r.MaxAge = u(0) }, false},
		{"hint for the same person", func(r *Reuse) { r.HintSubject = "u1" }, true},
		{"hint for someone else", func(r *Reuse) { r.HintSubject = "u2" }, false},
		{"stronger acr asked", func(r *Reuse) { r.RequiredACR = ACRMultiFactor }, false},
		{"same acr asked", func(r *Reuse) { r.RequiredACR = ACRSingleFactor }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.mod(&r)
			if got := r.Allowed(); got != tt.want {
				t.Errorf("Allowed() = %v, want %v", got, tt.want)
			}
		})
	}
}
