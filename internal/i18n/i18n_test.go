package i18n

import (
	"slices"
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
