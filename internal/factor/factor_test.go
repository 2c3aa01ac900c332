package factor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/store"
)

// fake is the smallest factor: it shows that the interface needs nothing from HTTP.
type fake struct{ kind string }

var _ factor.Factor = (*fake)(nil)

func (f *fake) Kind() string            { return f.kind }
func (f *fake) AMR() []string           { return []string{"otp"} }
func (f *fake) PhishingResistant() bool { return false }
func (f *fake) BeginChallenge(context.Context, factor.ChallengeRequest) (*factor.Challenge, error) {
	return &factor.Challenge{Kind: f.kind}, nil
}
func (f *fake) Verify(context.Context, *store.Factor, string) error { return factor.ErrWrong }

func TestRegistry(t *testing.T) {
	r := factor.Registry{}
	r.Register(&fake{"totp"})
	r.Register(&fake{"email"})
	if got := r.Kinds(); !slices.Equal(got, []string{"email", "totp"}) {
		t.Errorf("kinds = %v", got)
	}
	if f, ok := r.Get("totp"); !ok || f.Kind() != "totp" {
		t.Errorf("get totp: %v %v", f, ok)
	}
	if _, ok := r.Get("sms"); ok {
		t.Error("an unregistered kind was found")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a kind twice must panic")
		}
	}()
	r.Register(&fake{"totp"})
}

func TestRetryAt(t *testing.T) {
	at := time.Date(2027, 1, 1, 10, 0, 30, 0, time.UTC)
	tests := []struct {
		name string
		err  error
		want time.Time
		ok   bool
	}{
		{"limited", &store.ErrSendLimited{RetryAt: at, Reason: "cooldown"}, at, true},
		{"wrapped", fmt.Errorf("send: %w", &store.ErrSendLimited{RetryAt: at, Reason: "ip"}), at, true},
		{"other error", errors.New("boom"), time.Time{}, false},
		{"nil", nil, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := factor.RetryAt(tt.err)
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("RetryAt = %v %v, want %v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
