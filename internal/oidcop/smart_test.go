package oidcop

import (
	"slices"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

func TestGrantableScopes(t *testing.T) {
	c := &Client{row: &store.Client{AllowedScopes: "openid fhirUser launch/patient offline_access patient/*.rs user/Observation.read system/Patient.r?identifier=x"}}
	for _, tc := range []struct {
		scope string
		ok    bool
	}{
		{"openid", true},
		{"fhirUser", true},
		{"launch/patient", true},
		{"offline_access", true},
		{"email", false}, // standard, but not on this client's list
		{"launch", false},
		{"patient/Observation.rs", true},
		{"patient/Observation.r", true},
		{"patient/*.read", true}, // v1 read = v2 rs
		{"patient/Observation.read", true},
		{"patient/Observation.rs?category=laboratory", true},
		{"patient/Observation.cruds", false},
		{"patient/*.write", false},
		{"user/Observation.rs", true}, // v1 read covers v2 rs
		{"user/Observation.s", true},
		{"user/Patient.rs", false},
		{"system/Patient.r", false}, // the allowed query must be kept
		{"system/Patient.r?identifier=x", true},
		{"patient/Observation.sr", false}, // v2 letters out of order are not a scope
		{"patient/observation.rs", false},
	} {
		got := slices.Contains(c.grantableScopes([]string{tc.scope}), tc.scope)
		if got != tc.ok {
			t.Errorf("%s: granted %v, want %v", tc.scope, got, tc.ok)
		}
	}
	open := &Client{row: &store.Client{}}
	if got := open.grantableScopes([]string{"openid", "email"}); len(got) != 2 {
		t.Errorf("a client without a list keeps what the library admits: %v", got)
	}
}

func TestPatientContext(t *testing.T) {
	for _, tc := range []struct {
		u    store.User
		want string
	}{
		{store.User{ID: "u1", Role: store.RolePatient, FHIRUser: "Patient/456"}, "456"},
		{store.User{ID: "u1", Role: store.RolePatient, FHIRUser: "https://fhir.example.org/r4/Patient/p-9"}, "p-9"},
		{store.User{ID: "u1", Role: store.RolePatient}, "u1"},
		{store.User{ID: "u1", Role: store.RoleProvider, FHIRUser: "Practitioner/123"}, ""},
		{store.User{ID: "u1", Role: store.RolePatient, FHIRUser: "RelatedPerson/7"}, ""},
	} {
		if got := patientContext(&tc.u); got != tc.want {
			t.Errorf("%+v: patient %q, want %q", tc.u, got, tc.want)
		}
	}
}

func TestValidFHIRUser(t *testing.T) {
	for v, ok := range map[string]bool{
		"Practitioner/123": true, "Patient/456": true, "RelatedPerson/7": true, "https://fhir.example.org/r4/Practitioner/1": true,
		"Observation/1": false, "Practitioner/": false, "http://fhir.example.org/Patient/1": false, "Patient/1 2": false,
	} {
		if err := ValidFHIRUser(v); (err == nil) != ok {
			t.Errorf("%q: %v", v, err)
		}
	}
}
