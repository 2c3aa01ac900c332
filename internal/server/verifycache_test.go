package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestVerifiedTokenStillRevocable: an access token already used (its signature verified and
// remembered) is refused at once after it is revoked, at userinfo and at introspection.
func TestVerifiedTokenStillRevocable(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, nil)
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec, oidc.ScopeOpenID, "profile", "email")
		tok, _ := r.login(newBrowser(t), "pat@example.org", "correct horse battery")
		userinfo := func() int {
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		post := func(path string) string {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, sec)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return string(body)
		}
		for range 2 { // the second use is answered from the verified tokens
			if got := userinfo(); got != http.StatusOK {
				t.Fatalf("userinfo before revocation: %d", got)
			}
			if got := post("/oauth/introspect"); !strings.Contains(got, `"active":true`) {
				t.Fatalf("introspection before revocation: %s", got)
			}
		}
		post("/revoke")
		if got := userinfo(); got != http.StatusUnauthorized {
			t.Errorf("userinfo after revocation: %d, want 401", got)
		}
		if got := post("/oauth/introspect"); !strings.Contains(got, `"active":false`) {
			t.Errorf("introspection after revocation: %s", got)
		}
	})
}
