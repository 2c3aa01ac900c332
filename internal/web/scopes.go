package web

import (
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/oidcop"
)

// Scopes in plain words, for the consent page and the connected applications: a person is asked
// to allow "See your test results", never "patient/Observation.rs".

var namedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeOfflineAccess,
	oidcop.ScopeFHIRUser, oidcop.ScopeLaunchPatient}

// fhirResourceWords are the FHIR resource types with their own words in the catalogs
// (scope.fhir.<Type>); others are named by their type.
var fhirResourceWords = []string{"*", "AllergyIntolerance", "Appointment", "CarePlan", "Communication", "Condition",
	"Coverage", "DiagnosticReport", "DocumentReference", "Encounter", "Immunization", "MedicationRequest",
	"Observation", "Patient", "Procedure"}

// scopeText is what scope gives the application, in loc's language; "" for a scope that gives
// nothing a person would recognise (it is then left off the list rather than shown as code).
func scopeText(loc *i18n.Localizer, scope string) string {
	if slices.Contains(namedScopes, scope) {
		return loc.T("scope." + scope)
	}
	context, resource, see, change, ok := oidcop.ResourceAccess(scope)
	if !ok {
		return scope // an unknown scope shows as its own name: nothing is hidden from the person
	}
	what := resource
	if slices.Contains(fhirResourceWords, resource) {
		what = loc.T("scope.fhir." + resource)
	}
	mode := "see"
	switch {
	case see && change:
		mode = "see_change"
	case change:
		mode = "change"
	}
	return loc.T("scope.resource."+context+"."+mode, "What", what)
}
