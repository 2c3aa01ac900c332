package authn

import "testing"

func TestRequire(t *testing.T) {
	tests := []struct {
		name      string
		acrValues []string
		claims    []string
		essential bool
		clientMin string
		want      Requirement
	}{
		{"nothing", nil, nil, false, "", Requirement{}},
		{"acr_values are voluntary", []string{ACRMultiFactor}, nil, false, "", Requirement{Target: ACRMultiFactor}},
		{"first known value is the preference", []string{"urn:unknown", ACRPhishingRes, ACRMultiFactor}, nil, false, "", Requirement{Target: ACRPhishingRes}},
		{"claims essential", nil, []string{ACRMultiFactor}, true, "", Requirement{Target: ACRMultiFactor, Floor: ACRMultiFactor}},
		{"claims voluntary", nil, []string{ACRMultiFactor}, false, "", Requirement{Target: ACRMultiFactor}},
		{"client minimum is a floor", []string{ACRSingleFactor}, nil, false, ACRMultiFactor, Requirement{Target: ACRMultiFactor, Floor: ACRMultiFactor}},
		{"stronger wish above the minimum", []string{ACRPhishingRes}, nil, false, ACRMultiFactor, Requirement{Target: ACRPhishingRes, Floor: ACRMultiFactor}},
	}
	for _, tt := range tests {
		if got := Require(tt.acrValues, tt.claims, tt.essential, tt.clientMin); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	r := Require(nil, nil, false, ACRMultiFactor)
	if !r.Unmet(ACRSingleFactor) || r.Unmet(ACRMultiFactor) || r.Unmet(ACRPhishingRes) || (Requirement{}).Unmet(ACRSingleFactor) {
		t.Error("Unmet")
	}
}

func TestParseClaimsACR(t *testing.T) {
	v, ess, err := ParseClaimsACR(`{"id_token":{"acr":{"essential":true,"values":["phr","urn:tessera:acr:mfa"]}}}`)
	if err != nil || !ess || len(v) != 2 || v[0] != "phr" {
		t.Errorf("got %v %v %v", v, ess, err)
	}
	if v, _, err := ParseClaimsACR(`{"userinfo":{"email":null}}`); err != nil || v != nil {
		t.Errorf("no acr: %v %v", v, err)
	}
	for _, bad := range []string{`not json`, `[1]`, `{"id_token":{"acr":"phr"}}`} {
		if _, _, err := ParseClaimsACR(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
