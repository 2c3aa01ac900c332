package proxy

import (
	"slices"
	"strings"

	"github.com/tessera-health/tessera/internal/store"
)

// DefaultScopeSet is the scope set a limited grant uses unless it names another.
const DefaultScopeSet = "limited"

// DefaultScopeSets are the built-in scope sets, used when a tenant has not defined a set of the
// same name (tessera proxy scopes --tenant T --name N --scopes "…" defines one). The default
// "limited" set opens appointments and messages but not results.
var DefaultScopeSets = map[string]string{
	DefaultScopeSet: "patient/Appointment.read patient/Communication.*",
}

// identityScopes are kept in every patient-context token: they describe the sign-in, not the
// record.
var identityScopes = []string{"openid", "profile", "offline_access"}

// Effective returns the scopes a patient-context token gets: for full access, what was asked;
// for limited access, the identity scopes (openid, profile, offline_access) that were asked,
// plus each asked resource scope narrowed to what the set allows (a wildcard on either side
// narrows to the other; scopes the set does not cover are dropped).
func Effective(access string, requested, set []string) []string {
	if access == store.ProxyFull {
		return slices.Clone(requested)
	}
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, r := range requested {
		if slices.Contains(identityScopes, r) {
			add(r)
			continue
		}
		rq, ok := parseResource(r)
		if !ok {
			continue
		}
		for _, g := range set {
			gs, ok := parseResource(g)
			if !ok {
				continue
			}
			if s, ok := intersect(rq, gs); ok {
				add(s)
			}
		}
	}
	return out
}

// resourceScope is a SMART resource scope: context/Resource.permissions, the permissions as
// v1 (read, write, *) or v2 letters (c r u d s), perhaps with a ?query (kept only on exact match).
type resourceScope struct {
	context, resource, perms, query, raw string
}

func parseResource(s string) (resourceScope, bool) {
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok || (ctx != "patient" && ctx != "user" && ctx != "system") {
		return resourceScope{}, false
	}
	res, perm, ok := strings.Cut(rest, ".")
	if !ok || res == "" || perm == "" {
		return resourceScope{}, false
	}
	perm, query, _ := strings.Cut(perm, "?")
	letters := ""
	switch perm {
	case "read":
		letters = "rs"
	case "write":
		letters = "cud"
	case "*":
		letters = "cruds"
	default:
		for _, c := range perm {
			if !strings.ContainsRune("cruds", c) {
				return resourceScope{}, false
			}
		}
		letters = canonical(perm)
	}
	return resourceScope{context: ctx, resource: res, perms: letters, query: query, raw: s}, true
}

func canonical(letters string) string {
	var b strings.Builder
	for _, c := range "cruds" {
		if strings.ContainsRune(letters, c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// intersect narrows a requested scope to a granted one; ok is false when they do not overlap.
func intersect(rq, g resourceScope) (string, bool) {
	if rq.context != g.context {
		return "", false
	}
	res := rq.resource
	switch {
	case rq.resource == g.resource:
	case rq.resource == "*":
		res = g.resource
	case g.resource == "*":
	default:
		return "", false
	}
	if (rq.query != "" || g.query != "") && rq.query != g.query && g.query != "" {
		return "", false
	}
	var common strings.Builder
	for _, c := range rq.perms {
		if strings.ContainsRune(g.perms, c) {
			common.WriteRune(c)
		}
	}
	perms := common.String()
	if perms == "" {
		return "", false
	}
	if res == rq.resource && perms == rq.perms {
		return rq.raw, true // nothing narrowed: keep the scope exactly as asked
	}
	if res == g.resource && perms == g.perms && rq.query == g.query {
		return g.raw, true
	}
	word := perms
	switch perms {
	case "rs":
		word = "read"
	case "cud":
		word = "write"
	case "cruds":
		word = "*"
	}
	out := rq.context + "/" + res + "." + word
	if rq.query != "" {
		out += "?" + rq.query
	}
	return out, true
}

// ValidScopeSet checks a scope set's text: resource scopes only, at least one.
func ValidScopeSet(scopes string) bool {
	f := strings.Fields(scopes)
	if len(f) == 0 {
		return false
	}
	for _, s := range f {
		if _, ok := parseResource(s); !ok {
			return false
		}
	}
	return true
}

// IsResourceScope reports whether s is a SMART resource scope (patient/…, user/…, system/…).
func IsResourceScope(s string) bool {
	_, ok := parseResource(s)
	return ok
}
