package server_test

import (
	"html"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestHelpContact: where a person is stuck, the practice's own help contact is shown —
// escaped, and never translated — under "Can't access your code?" on the code page and on the
// locked page, in English and in Spanish; the dead ends of password reset and registration
// show it too. A tenant without one keeps the generic sentence. On both databases.
func TestHelpContact(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		const contact = "Call Riverside Health & Clinics at 555-0100 <Monday to Friday 8–6>"
		escaped := html.EscapeString(contact)
		e := newEnv(t, b, nil)
		e.tenant.HelpContact = contact
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		id, sec := e.client(store.ClientWeb, nil)
		r := e.rp(id, sec)
		for _, tc := range []struct {
			lang, email, lostPhone, unlock, help string
		}{
			{"en", "pat@example.org", "Lost your phone? ", "To unlock it, contact your practice: ", "Need help? "},
			{"es", "rosa@example.org", "¿Perdió su teléfono? ", "Para desbloquearla, comuníquese con su consultorio: ", "¿Necesita ayuda? "},
		} {
			t.Run(tc.lang, func(t *testing.T) {
				u := e.user(tc.email, "correct horse battery")
				secret := enrollDirect(t, e, u)
				br := newBrowser(t)
				start, _ := r.authURL(oauth2.SetAuthURLParam("ui_locales", tc.lang))
				br.get(start)
				arID := br.formFields().Get("authRequestID")
				br.submitLogin(e.issuer, tc.email, "correct horse battery")
				if !strings.Contains(br.body, `<html lang="`+tc.lang+`">`) || !strings.Contains(br.body, `name="code"`) {
					t.Fatalf("expected the code page in %s: %d %.300s", tc.lang, br.status, br.body)
				}
				if !strings.Contains(br.body, tc.lostPhone+escaped) {
					t.Errorf("the code page does not show the help contact after %q: %.2000s", tc.lostPhone, br.body)
				}
				if strings.Contains(br.body, "<Monday") {
					t.Error("the help contact was not escaped")
				}
				for range 7 {
					f := br.formFields()
					f.Set("code", wrongCode(t, secret))
					br.post(e.issuer+"/mfa/verify", f)
				}
				if br.status != 403 || !strings.Contains(br.body, tc.unlock+escaped) || !strings.Contains(br.body, `<html lang="`+tc.lang+`">`) {
					t.Errorf("the locked page does not show the help contact: %d %.1500s", br.status, br.body)
				}
				// A reset link that no longer works, from this sign-in: a dead end with the contact.
				dead := newBrowser(t)
				dead.get(e.issuer + "/reset?token=no-such-link&authRequestID=" + arID + "&lang=" + tc.lang)
				if dead.status != 400 || !strings.Contains(dead.body, tc.help+escaped) {
					t.Errorf("the dead reset link does not show the help contact: %d %.1500s", dead.status, dead.body)
				}
				// Registration turned off: a dead end with the contact.
				dead.get(e.issuer + "/register?authRequestID=" + arID)
				if dead.status != 404 || !strings.Contains(dead.body, tc.help+escaped) {
					t.Errorf("the registration dead end does not show the help contact: %d %.1500s", dead.status, dead.body)
				}
			})
		}

		// Without a help contact: the generic words.
		e.tenant.HelpContact = ""
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		u := e.user("sam@example.org", "correct horse battery")
		enrollDirect(t, e, u)
		br := newBrowser(t)
		start, _ := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "sam@example.org", "correct horse battery")
		if !strings.Contains(br.body, html.EscapeString("Can't access your code? Contact your practice administrator.")) || strings.Contains(br.body, "555-0100") {
			t.Errorf("without a help contact the code page must keep the generic sentence: %.1500s", br.body)
		}
	})
}
