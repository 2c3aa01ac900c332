package web

import (
	"testing"

	"golang.org/x/text/language"

	"github.com/tessera-health/tessera/internal/i18n"
)

// TestScopeText: the consent page names what an application gets in words, SMART resource
// scopes included (v1 and v2 syntax), in English and Spanish; an unknown scope shows as itself.
func TestScopeText(t *testing.T) {
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tag         language.Tag
		scope, want string
	}{
		{language.English, "email", "Your email address"},
		{language.English, "patient/Observation.rs", "See your test results and measurements"},
		{language.English, "patient/Observation.read", "See your test results and measurements"},
		{language.English, "patient/Appointment.cu", "Add to or change your appointments"},
		{language.English, "patient/*.*", "See and change your health records of every kind"},
		{language.English, "user/MedicationRequest.read", "See the medicines of every patient you can see"},
		{language.English, "system/Encounter.write", "Add to or change visits for the whole practice"},
		{language.English, "patient/Basic.rs", "See your Basic"},
		{language.English, "launch/patient", "Which patient's record to open: yours"},
		{language.English, "read:everything", "read:everything"},
		{language.Spanish, "patient/Observation.rs", "Ver sus resultados de pruebas y mediciones"},
		{language.Spanish, "patient/Communication.*", "Ver y cambiar sus mensajes"},
		{language.Spanish, "user/Condition.rs", "Ver problemas de salud (diagnósticos) de todos los pacientes que usted puede ver"},
	} {
		if got := scopeText(cat.For(c.tag), c.scope); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.tag, c.scope, got, c.want)
		}
	}
}
