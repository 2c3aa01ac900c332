package server_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// BenchmarkUserinfo: GET /userinfo with a person's ES256 access token (signature, revocation
// list, user read).
func BenchmarkUserinfo(b *testing.B) {
	perfEachBackend(b, func(b *testing.B, be storetest.Backend) {
		e := newEnv(b, be, func(o *server.Options) { o.CacheTTL = 10 * time.Second })
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec, oidc.ScopeOpenID, "profile", "email")
		tok, _ := r.login(newBrowser(b), "pat@example.org", "correct horse battery")
		get := func() {
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := perfClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("userinfo: %d %s", resp.StatusCode, body)
			}
		}
		get()
		b.ReportAllocs()
		b.ResetTimer()
		start := perfCPU()
		for b.Loop() {
			get()
		}
		perfReport(b, start)
	})
}

// BenchmarkIntrospection: POST /oauth/introspect of a person's access token by its client.
func BenchmarkIntrospection(b *testing.B) {
	perfEachBackend(b, func(b *testing.B, be storetest.Backend) {
		e := newEnv(b, be, func(o *server.Options) { o.CacheTTL = 10 * time.Second })
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec, oidc.ScopeOpenID, "profile", "email")
		tok, _ := r.login(newBrowser(b), "pat@example.org", "correct horse battery")
		form := url.Values{"token": {tok.AccessToken}}
		if body := perfPost(b, e.issuer+"/oauth/introspect", form, id, sec); jsonField(body, "sub") == "" {
			b.Fatalf("introspection: %s", body)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := perfCPU()
		for b.Loop() {
			perfPost(b, e.issuer+"/oauth/introspect", form, id, sec)
		}
		perfReport(b, start)
	})
}
