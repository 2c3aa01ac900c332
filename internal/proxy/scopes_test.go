package proxy

import (
	"slices"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

func TestEffective(t *testing.T) {
	limited := strings.Fields(DefaultScopeSets[DefaultScopeSet])
	tests := []struct {
		name, access, requested, want string
	}{
		{"full keeps everything", store.ProxyFull, "openid email patient/Observation.read", "openid email patient/Observation.read"},
		{"limited drops results and email", store.ProxyLimited, "openid profile email offline_access patient/Appointment.read patient/Observation.read",
			"openid profile offline_access patient/Appointment.read"},
		{"wildcard resource narrows to the set", store.ProxyLimited, "openid patient/*.read", "openid patient/Appointment.read patient/Communication.read"},
		{"granted wildcard keeps the asked permission", store.ProxyLimited, "patient/Communication.write", "patient/Communication.write"},
		{"v2 letters intersect", store.ProxyLimited, "patient/Appointment.cruds", "patient/Appointment.read"},
		{"write on read-only is dropped", store.ProxyLimited, "patient/Appointment.write", ""},
		{"user context is not patient context", store.ProxyLimited, "user/Appointment.read", ""},
		{"junk is dropped", store.ProxyLimited, "openid patient/Appointment", "openid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(Effective(tc.access, strings.Fields(tc.requested), limited), " ")
			if got != tc.want {
				t.Fatalf("Effective(%q) = %q, want %q", tc.requested, got, tc.want)
			}
		})
	}
}

func TestValidScopeSet(t *testing.T) {
	for s, want := range map[string]bool{"patient/Appointment.read patient/Communication.*": true, "": false,
		"openid": false, "patient/Appointment.rs": true, "patient/Appointment.x": false} {
		if got := ValidScopeSet(s); got != want {
			t.Errorf("ValidScopeSet(%q) = %v", s, got)
		}
	}
	if !slices.Contains(identityScopes, "openid") {
		t.Fatal("openid must stay in every token")
	}
}
