package i18n

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

// TestCatalogsComplete fails when a key exists in one language and not in the other.
func TestCatalogsComplete(t *testing.T) {
	en, err := Keys(language.English)
	if err != nil {
		t.Fatal(err)
	}
	es, err := Keys(language.Spanish)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range en {
		if !slices.Contains(es, k) {
			t.Errorf("%q is in English but not in Spanish", k)
		}
	}
	for _, k := range es {
		if !slices.Contains(en, k) {
			t.Errorf("%q is in Spanish but not in English", k)
		}
	}
	if _, err := Load(); err != nil {
		t.Fatal(err)
	}
}

func TestPlurals(t *testing.T) {
	c, _ := Load()
	tests := []struct {
		tag  language.Tag
		n    int
		want string
	}{
		{language.English, 1, "1 attempt left"},
		{language.English, 3, "3 attempts left"},
		{language.Spanish, 1, "1 intento restante"},
		{language.Spanish, 3, "3 intentos restantes"},
	}
	for _, tt := range tests {
		if got := c.For(tt.tag).N("attempts.left", tt.n); got != tt.want {
			t.Errorf("%s %d: %q, want %q", tt.tag, tt.n, got, tt.want)
		}
	}
}

// TestPluralFormsComplete: every plural message renders in both languages for every count a
// page may show — 0, 1, a few, many and a million (Spanish has a CLDR "many" form for a million
// and up: "1000000 de intentos"), never falling back to its own id.
func TestPluralFormsComplete(t *testing.T) {
	c, _ := Load()
	for _, tag := range Supported {
		raw, err := locales.ReadFile("locales/" + tag.String() + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		for id, v := range m {
			if _, plural := v.(map[string]any); !plural {
				continue
			}
			for _, n := range []int{0, 1, 2, 5, 21, 1000000} {
				if got := c.For(tag).N(id, n); got == id || !strings.Contains(got, strconv.Itoa(n)) {
					t.Errorf("%s %s with %d: %q", tag, id, n, got)
				}
			}
		}
	}
	es := c.For(language.Spanish)
	for n, want := range map[int]string{0: "0 intentos restantes", 1: "1 intento restante", 7: "7 intentos restantes"} {
		if got := es.N("attempts.left", n); got != want {
			t.Errorf("attempts.left %d: %q, want %q", n, got, want)
		}
	}
}

func TestPick(t *testing.T) {
	c, _ := Load()
	tests := []struct {
		name       string
		candidates [][]string
		want       language.Tag
	}{
		{"ui_locales first", [][]string{{"es-MX"}, {"en"}}, language.Spanish},
		{"unsupported ui_locales fall through", [][]string{{"fr"}, {"es"}}, language.Spanish},
		{"Accept-Language with weights", [][]string{nil, nil, {"fr-CA,fr;q=0.9,es;q=0.8,en;q=0.5"}}, language.Spanish},
		{"nothing: English", nil, language.English},
		{"garbage", [][]string{{"!!"}}, language.English},
	}
	for _, tt := range tests {
		if got := c.Pick(tt.candidates...); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := c.For(language.Spanish).T("consent.title", "App", "Portal"); got != "¿Permitir Portal?" {
		t.Errorf("template data: %q", got)
	}
}
