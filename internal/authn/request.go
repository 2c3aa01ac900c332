package authn

import (
	"encoding/json"
	"errors"
)

// Requirement is what a relying party asks of an authentication: Target is the acr it would
// like (step-up aims for it), Floor the acr it insists on (a sign-in that cannot reach it fails
// with unmet_authentication_requirements rather than returning less).
type Requirement struct {
	Target string
	Floor  string
}

// ParseClaimsACR reads the acr request of an OIDC `claims` parameter (Core §5.5.1):
// {"id_token":{"acr":{"essential":true,"values":[…]}}}. A parameter that is not a JSON object
// is an error; one that says nothing of acr is fine.
func ParseClaimsACR(raw string) (values []string, essential bool, err error) {
	if raw == "" {
		return nil, false, nil
	}
	var c struct {
		IDToken map[string]json.RawMessage `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, false, errors.New("the claims parameter is not a JSON object")
	}
	acr, ok := c.IDToken["acr"]
	if !ok || string(acr) == "null" {
		return nil, false, nil
	}
	var req struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	if err := json.Unmarshal(acr, &req); err != nil {
		return nil, false, errors.New("claims.id_token.acr is not an object")
	}
	if req.Value != "" {
		values = append(values, req.Value)
	}
	return append(values, req.Values...), req.Essential, nil
}

// Require combines what was asked: the acr_values (voluntary, in order of preference), the
// claims parameter's acr (a floor when essential) and the client's minimum (always a floor).
// Unknown values are ignored; the first known value of a list is its preference.
func Require(acrValues, claimsValues []string, claimsEssential bool, clientMin string) Requirement {
	first := func(values []string) string {
		for _, v := range values {
			if ACRRank(v) >= 0 {
				return v
			}
		}
		return ""
	}
	higher := func(a, b string) string {
		if ACRRank(b) > ACRRank(a) {
			return b
		}
		return a
	}
	var r Requirement
	if claimsEssential {
		r.Floor = first(claimsValues)
	}
	if ACRRank(clientMin) >= 0 {
		r.Floor = higher(r.Floor, clientMin)
	}
	r.Target = higher(higher(r.Floor, first(acrValues)), first(claimsValues))
	return r
}

// Unmet reports whether an authentication worth acr falls short of the floor.
func (r Requirement) Unmet(acr string) bool {
	return r.Floor != "" && ACRRank(acr) < ACRRank(r.Floor)
}
