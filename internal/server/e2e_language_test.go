package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/server"
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

// TestSpanishEndToEnd: a sign-in with ui_locales=es is in Spanish on every page from the first
// to the last — the password page, the set-up page, the code page, the backup codes and the
// consent — and the texted code, the emailed code and the security notice are in Spanish too
// (read from the dev outbox). On both databases.
func TestSpanishEndToEnd(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, func(o *server.Options) { o.Dev = true })
		e.requiredMFA()
		id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.FirstParty = false; c.Name = "Diario de Salud" })
		r := e.rp(id, sec)
		es := oauth2.SetAuthURLParam("ui_locales", "es")
		page := func(br *browser, what, h1 string) {
			t.Helper()
			if !strings.Contains(br.body, `<html lang="es">`) || !strings.Contains(br.body, "<h1>"+h1) {
				t.Fatalf("%s: not the Spanish page with <h1>%s: %d %.600s", what, h1, br.status, br.body)
			}
		}
		for _, channel := range []string{"sms", "email"} {
			t.Run(channel, func(t *testing.T) {
				email := channel + "@example.org"
				e.user(email, "correct horse battery")
				br := newBrowser(t)
				start, f := r.authURL(es)
				br.get(start)
				page(br, "sign-in", "Iniciar sesión")
				br.submitLogin(e.issuer, email, "correct horse battery")
				page(br, "set-up page", "Configure su aplicación de autenticación")
				var to string
				if channel == "sms" {
					br.enrollPhone(e.issuer, "+1 202 555 0123", "sms")
					page(br, "code page", "Revise sus mensajes de texto")
					to = "+12025550123"
				} else {
					br.post(e.issuer+"/mfa/enroll-email", br.formFields())
					page(br, "code page", "Revise su correo electrónico")
					to = email
				}
				if !strings.Contains(br.body, "Es válido durante") || !strings.Contains(br.body, "Enviar un código nuevo") {
					t.Errorf("the code page must say how long the code is valid and offer a new one: %.1500s", br.body)
				}
				var sent string
				for _, m := range e.node.Outbox.List() {
					if m.Channel == channel && m.To == to {
						sent = m.Subject + " " + m.Body
						break
					}
				}
				wantSent := map[string]string{"sms": "es su código de acceso. Vence en", "email": "Su código de inicio de sesión es"}[channel]
				if !strings.Contains(sent, wantSent) {
					t.Errorf("the %s with the code is not in Spanish: %q", channel, sent)
				}
				fields := br.formFields()
				fields.Set("code", sixDigits.FindString(sent))
				br.post(e.issuer+"/mfa/verify", fields)
				page(br, "backup codes", "Guarde sus códigos de respaldo")
				br.post(e.issuer+"/mfa/continue", br.formFields())
				page(br, "consent", "¿Permitir Diario de Salud?")
				fields = br.formFields()
				fields.Set("decision", "allow")
				br.post(e.issuer+"/consent", fields)
				if _, idt := r.exchange(br.code(f), f); claims(t, idt)["acr"] != "urn:tessera:acr:mfa" {
					t.Errorf("acr %v", claims(t, idt)["acr"])
				}
				if !outboxHas(e, email, "Se agregó un método de inicio de sesión a su cuenta") {
					t.Error("the notice of the new sign-in method is not in Spanish")
				}
			})
		}
	})
}
