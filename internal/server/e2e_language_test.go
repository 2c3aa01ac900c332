package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestLanguage: the RP's ui_locales, the language switch (a cookie) and Accept-Language each
// choose Spanish; the page says so in <html lang>; discovery lists the languages.
func TestLanguage(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, nil)
	id, sec := e.client(store.ClientWeb, nil)
	e.user("pat@example.org", "correct horse battery")
	r := e.rp(id, sec)
	spanish := func(body string) bool {
		return strings.Contains(body, `<html lang="es">`) && strings.Contains(body, "Correo electrónico") && strings.Contains(body, "Contraseña")
	}

	br := newBrowser(t)
	u, _ := r.authURL(oauth2.SetAuthURLParam("ui_locales", "es-MX en"))
	br.get(u)
	if !spanish(br.body) {
		t.Errorf("ui_locales=es-MX did not give a Spanish page: %.300s", br.body)
	}
	br.submitLogin(e.issuer, "pat@example.org", "wrong guess")
	if !strings.Contains(br.body, "no son correctos") {
		t.Error("the error message is not in Spanish")
	}

	// Accept-Language alone.
	req, _ := http.NewRequest("GET", e.issuer+"/logged-out", nil)
	req.Header.Set("Accept-Language", "es-US,es;q=0.9,en;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Language") != "es" {
		t.Errorf("Accept-Language es: Content-Language %q", resp.Header.Get("Content-Language"))
	}

	// The switch on every page: ?lang=es is remembered in a cookie for the next pages.
	other := newBrowser(t)
	u, _ = r.authURL()
	other.get(u)
	if spanish(other.body) || !strings.Contains(other.body, `hreflang="es"`) {
		t.Fatalf("default page: want English with a link to Spanish")
	}
	other.get(e.issuer + "/logged-out?lang=es")
	u, _ = r.authURL()
	other.get(u)
	if !spanish(other.body) {
		t.Error("the language switch was not remembered")
	}

	var d struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	p, _ := oidc.NewProvider(e.ctx, e.issuer)
	p.Claims(&d)
	if strings.Join(d.UILocales, " ") != "en es" {
		t.Errorf("ui_locales_supported = %v", d.UILocales)
	}
}
