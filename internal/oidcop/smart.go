package oidcop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tessera-health/tessera/internal/store"
)

// SMART App Launch 2.x (HL7): per-client allowed scopes, with the SMART resource scopes
// (patient/…, user/…, system/…, in the v1 syntax patient/*.read and the v2 syntax
// patient/Observation.rs); the fhirUser claim; the patient launch context for launch/patient;
// and /.well-known/smart-configuration. Tessera is the authorization server of a standalone
// launch: it does not resolve an EHR's opaque `launch` parameter.

// SMART scopes Tessera understands besides the resource scopes.
const (
	ScopeFHIRUser      = "fhirUser"
	ScopeLaunch        = "launch"
	ScopeLaunchPatient = "launch/patient"
)

// smartScopes are the non-resource scopes advertised in discovery and smart-configuration.
var smartScopes = []string{ScopeFHIRUser, ScopeLaunch, ScopeLaunchPatient}

// resourceScope is a parsed SMART resource scope: context/Resource.permissions[?query].
type resourceScope struct {
	context  string // patient, user or system
	resource string // a FHIR resource type or *
	perms    string // v2 letters in cruds order
	query    string // v2 query restriction, "" for none
}

var (
	resourceScopeRe = regexp.MustCompile(`^(patient|user|system)/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]{1,5})(\?[^\s]*)?$`)
	v2PermsRe       = regexp.MustCompile(`^c?r?u?d?s?$`)
)

// parseResourceScope parses s, or reports false when it is not a SMART resource scope.
func parseResourceScope(s string) (resourceScope, bool) {
	m := resourceScopeRe.FindStringSubmatch(s)
	if m == nil {
		return resourceScope{}, false
	}
	rs := resourceScope{context: m[1], resource: m[2], query: strings.TrimPrefix(m[4], "?")}
	switch m[3] {
	case "read": // v1
		rs.perms = "rs"
	case "write":
		rs.perms = "cud"
	case "*":
		rs.perms = "cruds"
	default:
		if !v2PermsRe.MatchString(m[3]) {
			return resourceScope{}, false
		}
		rs.perms = m[3]
	}
	if rs.query != "" && (m[3] == "read" || m[3] == "write" || m[3] == "*") {
		return resourceScope{}, false // queries are v2 only
	}
	return rs, true
}

// covers reports whether an allowed resource scope admits a requested one: same context, the
// same resource (or *), no permission beyond the allowed ones, and the allowed query (if any)
// kept as it is.
func (a resourceScope) covers(r resourceScope) bool {
	if a.context != r.context || (a.resource != "*" && a.resource != r.resource) {
		return false
	}
	for _, p := range r.perms {
		if !strings.ContainsRune(a.perms, p) {
			return false
		}
	}
	return a.query == "" || a.query == r.query
}

// ValidScope reports whether s may be registered as an allowed scope: a SMART resource scope,
// or a plain scope token (RFC 6749 §3.3).
func ValidScope(s string) bool {
	if strings.ContainsAny(s, "/") {
		if _, ok := parseResourceScope(s); ok || s == ScopeLaunchPatient || strings.HasPrefix(s, "launch/") {
			return true
		}
		return false
	}
	if s == "" {
		return false
	}
	for _, c := range s {
		if c <= 0x20 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// allowedScope reports whether the client may be granted scope. A client without an allowed
// list keeps the standard OpenID scopes only (the library admits those on its own).
func (c *Client) allowedScope(scope string) bool {
	allowed := store.SplitList(c.row.AllowedScopes)
	if slices.Contains(allowed, scope) || slices.Contains(c.row.Scopes, scope) { // Scopes: granted admin API scopes
		return true
	}
	rs, ok := parseResourceScope(scope)
	if !ok {
		return false
	}
	for _, a := range allowed {
		if as, ok := parseResourceScope(a); ok && as.covers(rs) {
			return true
		}
	}
	return false
}

// grantableScopes drops what the client may not be granted. The server may issue fewer scopes
// than requested (RFC 6749 §3.3); the token response then names the ones granted.
func (c *Client) grantableScopes(scopes []string) []string {
	if c.row.AllowedScopes == "" {
		return scopes
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		// openid is the protocol itself, not a permission: it is never dropped.
		if (s == oidc.ScopeOpenID || c.allowedScope(s)) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ValidFHIRUser checks a fhirUser value: a relative reference to a Patient, Practitioner,
// PractitionerRole, RelatedPerson or Person (Practitioner/123), or an absolute https URL that
// ends in one.
func ValidFHIRUser(v string) error {
	if v == "" {
		return nil
	}
	ref := v
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%q: use Type/id (Practitioner/123) or an absolute https URL ending in one", v)
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) < 2 {
			return fmt.Errorf("%q: the URL must end in Type/id", v)
		}
		ref = strings.Join(parts[len(parts)-2:], "/")
	}
	if !fhirRefRe.MatchString(ref) {
		return fmt.Errorf("%q: use Patient/ID, Practitioner/ID, PractitionerRole/ID, RelatedPerson/ID or Person/ID (ID: letters, digits, '-' and '.', at most 64)", v)
	}
	return nil
}

var fhirRefRe = regexp.MustCompile(`^(Patient|Practitioner|PractitionerRole|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}$`)

// patientContext is the patient a launch/patient grant opens: the Patient resource of the
// person's fhirUser, or else, for a patient, the person's own id. "" when the person is not a
// patient (a practitioner picks the patient in the EHR, which Tessera does not do).
func patientContext(u *store.User) string {
	ref := u.FHIRUser
	if i := strings.LastIndex(ref, "Patient/"); i >= 0 && (i == 0 || ref[i-1] == '/') {
		return ref[i+len("Patient/"):]
	}
	if u.Role == store.RolePatient && u.FHIRUser == "" {
		return u.ID
	}
	return ""
}

// smartAccessClaims adds the SMART launch context to a person's access token: patient, when
// launch/patient was granted and the person signs in for themselves as a patient. A patient
// already set (a caregiver's context) is kept. Either way the patient is noted for the token
// response (tokenContext). read is the person when the grant was read with them (the code, the
// refresh token: userReadWith), else nil and they are read here.
func (s *Storage) smartAccessClaims(ctx context.Context, userID string, read *store.User, scopes []string, claims map[string]any) error {
	if p, set := claims["patient"].(string); set {
		noteLaunchPatient(ctx, p)
		return nil
	}
	if userID == "" || !slices.Contains(scopes, ScopeLaunchPatient) {
		return nil
	}
	u := read
	if u == nil || u.ID != userID {
		var err error
		if u, err = s.st.UserByID(ctx, userID); err != nil {
			return err
		}
	}
	if p := patientContext(u); p != "" {
		claims["patient"] = p
		noteLaunchPatient(ctx, p)
	}
	return nil
}

// launchContext carries the patient of the access token being minted from the claims hook to
// the token response, within one token request.
type launchContext struct{ patient string }

type launchContextKey struct{}

// noteLaunchPatient records the patient of the access token minted in this token request, for
// the `patient` token-response parameter. Whoever puts a patient claim in an access token by
// another path (token exchange) calls it too.
func noteLaunchPatient(ctx context.Context, patient string) {
	if lc, ok := ctx.Value(launchContextKey{}).(*launchContext); ok {
		lc.patient = patient
	}
}

// tokenContext adds the launch context of the access token to a successful token response
// (SMART App Launch: `patient` beside access_token). Token responses without one pass through
// untouched.
func (p *Provider) tokenContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc := &launchContext{}
		r = r.WithContext(context.WithValue(r.Context(), launchContextKey{}, lc))
		rec := &recorder{header: http.Header{}}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK && lc.patient != "" {
			var resp map[string]any
			if err := json.Unmarshal(rec.body.Bytes(), &resp); err == nil && resp["access_token"] != nil && resp["patient"] == nil {
				resp["patient"] = lc.patient
				if body, err := json.Marshal(resp); err == nil {
					rec.body.Reset()
					rec.body.Write(body)
					rec.header.Del("Content-Length")
				}
			}
		}
		rec.flush(w)
	})
}

// buildSMARTConfiguration precomputes /.well-known/smart-configuration (SMART App Launch 2.x
// §2.1), served like discovery: fixed bytes with an ETag.
func (p *Provider) buildSMARTConfiguration() error {
	iss := p.opts.Issuer
	conf := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/oauth/token",
		"jwks_uri":                              iss + "/keys",
		"userinfo_endpoint":                     iss + "/userinfo",
		"revocation_endpoint":                   iss + "/revoke",
		"introspection_endpoint":                iss + "/oauth/introspect",
		"end_session_endpoint":                  iss + "/end_session",
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeTokenExchange},
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported": append([]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone,
			oidc.ScopeOfflineAccess}, append(smartScopes, "patient/*.rs", "user/*.rs", "system/*.rs", "patient/*.read", "user/*.read", "system/*.read")...),
		"capabilities": []string{"launch-standalone", "client-public", "client-confidential-symmetric",
			"sso-openid-connect", "context-standalone-patient", "permission-patient", "permission-user",
			"permission-v1", "permission-v2", "permission-offline"},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	p.smartConf = b
	sum := sha256.Sum256(b)
	p.smartETag = `"` + hex.EncodeToString(sum[:8]) + `"`
	return nil
}

func (p *Provider) serveSMARTConfiguration(w http.ResponseWriter, r *http.Request) {
	serveCached(w, r, p.smartConf, p.smartETag, "public, max-age=3600")
}

// ResourceAccess says what a SMART resource scope gives, for the consent page's plain words:
// whose records (patient, user or system), which resource type ("*" for all), and whether it
// lets the application see them, change them, or both. ok is false for any other scope.
func ResourceAccess(scope string) (context, resource string, see, change, ok bool) {
	rs, ok := parseResourceScope(scope)
	if !ok {
		return "", "", false, false, false
	}
	return rs.context, rs.resource, strings.ContainsAny(rs.perms, "rs"), strings.ContainsAny(rs.perms, "cud"), true
}
