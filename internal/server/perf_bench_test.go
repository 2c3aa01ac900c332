package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// Benchmarks of whole requests over real loopback HTTP. The driver and the server share this
// process, so cpu-ms/op counts both (and PostgreSQL's own CPU is not counted at all); the
// load driver of the performance issue measures the server alone.

func perfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func perfReport(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(perfCPU()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func perfEachBackend(b *testing.B, fn func(b *testing.B, be storetest.Backend)) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			if be.Name == "postgres" {
				storetest.PostgresURL(b)
			}
			fn(b, be)
		})
	}
}

var perfClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

func perfPost(b *testing.B, u string, form url.Values, id, sec string) []byte {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, sec)
	resp, err := perfClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d %s", u, resp.StatusCode, body)
	}
	return body
}

// BenchmarkCCGrant: client_credentials, an ES256 JWT access token recorded for revocation.
func BenchmarkCCGrant(b *testing.B) {
	perfEachBackend(b, func(b *testing.B, be storetest.Backend) {
		e := newEnv(b, be, func(o *server.Options) { o.CacheTTL = 10 * time.Second })
		id, sec := e.client(store.ClientService, nil)
		form := url.Values{"grant_type": {"client_credentials"}}
		perfPost(b, e.issuer+"/oauth/token", form, id, sec)
		b.ReportAllocs()
		b.ResetTimer()
		start := perfCPU()
		for b.Loop() {
			perfPost(b, e.issuer+"/oauth/token", form, id, sec)
		}
		perfReport(b, start)
	})
}

// BenchmarkRefreshGrant: one rotation chain — every iteration spends the refresh token the
// previous one returned (reuse check + rotation in one transaction) and gets a JWT access token
// and an ID token: ES256 for a default client; for an RS256 client the ID token is RS256 (one
// RSA-2048 signature) and the access token stays ES256.
func BenchmarkRefreshGrant(b *testing.B) {
	perfEachBackend(b, func(b *testing.B, be storetest.Backend) {
		for _, alg := range []string{"ES256", "RS256"} {
			b.Run(alg, func(b *testing.B) {
				e := newEnv(b, be, func(o *server.Options) { o.CacheTTL = 10 * time.Second })
				id, sec := e.client(store.ClientWeb, func(c *store.Client) {
					if alg != "ES256" {
						c.IDTokenAlg = alg
					}
				})
				e.user("pat@example.org", "correct horse battery")
				r := e.rp(id, sec, oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess)
				tok, _ := r.login(newBrowser(b), "pat@example.org", "correct horse battery")
				rt := tok.RefreshToken
				b.ReportAllocs()
				b.ResetTimer()
				start := perfCPU()
				for b.Loop() {
					body := perfPost(b, e.issuer+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, sec)
					rt = jsonField(body, "refresh_token")
				}
				perfReport(b, start)
			})
		}
	})
}

// BenchmarkLoginHTTP: a complete browser-like sign-in with OWASP argon2id parameters: authorize
// → sign-in page → password → callback → code exchange → verified ID token. A fresh browser per
// iteration, so the password is really checked every time.
func BenchmarkLoginHTTP(b *testing.B) {
	perfEachBackend(b, func(b *testing.B, be storetest.Backend) {
		e := newEnv(b, be, func(o *server.Options) {
			o.Password = password.DefaultParams()
			o.CacheTTL = 10 * time.Second
		})
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)
		b.ReportAllocs()
		b.ResetTimer()
		start := perfCPU()
		for b.Loop() {
			r.login(newBrowser(b), "pat@example.org", "correct horse battery")
		}
		perfReport(b, start)
	})
}

// BenchmarkArgon2Verify is the login's unavoidable cost, for the budget: everything else in a
// login must stay under 10% of it.
func BenchmarkArgon2Verify(b *testing.B) {
	h := password.New(password.DefaultParams(), 1)
	enc, _ := h.Hash(b.Context(), "correct horse battery")
	start := perfCPU()
	for b.Loop() {
		h.Verify(b.Context(), "correct horse battery", enc)
	}
	perfReport(b, start)
}

func jsonField(body []byte, field string) string {
	s := string(body)
	i := strings.Index(s, `"`+field+`":"`)
	if i < 0 {
		return ""
	}
	s = s[i+len(field)+4:]
	return s[:strings.IndexByte(s, '"')]
}

// BenchmarkLoginOverhead is BenchmarkLoginHTTP with a negligible password hash (64 KiB, one
// pass): what a login costs apart from argon2id, RP side included — an upper bound for the
// server's share, to hold against BenchmarkArgon2Verify.
func BenchmarkLoginOverhead(b *testing.B) {
	perfEachBackend(b, func(b *testing.B, be storetest.Backend) {
		e := newEnv(b, be, func(o *server.Options) { o.CacheTTL = 10 * time.Second })
		id, sec := e.client(store.ClientWeb, nil)
		e.user("pat@example.org", "correct horse battery")
		r := e.rp(id, sec)
		b.ReportAllocs()
		b.ResetTimer()
		start := perfCPU()
		for b.Loop() {
			r.login(newBrowser(b), "pat@example.org", "correct horse battery")
		}
		perfReport(b, start)
	})
}
