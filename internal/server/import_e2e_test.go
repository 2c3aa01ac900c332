package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// People moved from another portal (`tessera user import` writes them with store.ImportUser
// and totp.Imported, as here) sign in through the real HTTP flow with an outside RP: a legacy
// bcrypt hash and an argon2id hash with other parameters both work, and the first sign-in
// replaces them with argon2id at the node's (OWASP default) parameters; an imported
// authenticator's code is accepted at the second step.
func TestImportedUsersSignIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		var key []byte
		e := newEnv(t, b, func(o *server.Options) {
			o.Password = password.DefaultParams() // production parameters: the rehash target
			key = o.SecretKey
		})
		id, sec := e.client(store.ClientWeb, nil)
		r := e.rp(id, sec)

		bc, err := bcrypt.GenerateFromPassword([]byte("legacy bcrypt passphrase"), bcrypt.DefaultCost)
		if err != nil {
			t.Fatal(err)
		}
		oldArgon, err := password.New(password.Params{MemoryKiB: 4096, Iterations: 3, Parallelism: 2, KeyLen: 16, SaltLen: 8}, 1).
			Hash(e.ctx, "legacy argon2 passphrase")
		if err != nil {
			t.Fatal(err)
		}
		const defaultPrefix = "$argon2id$v=19$m=19456,t=2,p=1$"
		if strings.HasPrefix(oldArgon, defaultPrefix) {
			t.Fatal("the legacy argon2id hash must use other parameters than the default")
		}

		for _, tt := range []struct{ email, pw, hash string }{
			{"bcrypt@example.org", "legacy bcrypt passphrase", string(bc)},
			{"argon@example.org", "legacy argon2 passphrase", oldArgon},
		} {
			t.Run(tt.email, func(t *testing.T) {
				u := &store.User{TenantID: e.tenant.ID, Email: tt.email, Role: store.RolePatient, PasswordHash: tt.hash}
				if err := e.st.ImportUser(e.ctx, u, nil); err != nil {
					t.Fatal(err)
				}
				// A wrong password is refused and changes nothing.
				br := newBrowser(t)
				start, _ := r.authURL()
				br.get(start)
				br.submitLogin(e.issuer, tt.email, tt.pw+"x")
				if br.status != 401 || br.last != nil {
					t.Fatalf("wrong password: %d, sent back: %v", br.status, br.last)
				}
				if got, _ := e.st.UserByID(e.ctx, u.ID); got.PasswordHash != tt.hash {
					t.Fatal("a failed sign-in changed the stored hash")
				}

				_, idt := r.login(newBrowser(t), tt.email, tt.pw)
				c := claims(t, idt)
				if idt.Subject != u.ID || !slices.Equal(toStrings(c["amr"]), []string{"pwd"}) {
					t.Errorf("sub %q amr %v; want %q [pwd]", idt.Subject, c["amr"], u.ID)
				}
				got, _ := e.st.UserByID(e.ctx, u.ID)
				if !strings.HasPrefix(got.PasswordHash, defaultPrefix) {
					t.Fatalf("after sign-in the stored hash is %.40q…, want argon2id with the default parameters", got.PasswordHash)
				}
				ok, rehash, err := password.New(password.DefaultParams(), 1).Verify(e.ctx, tt.pw, got.PasswordHash)
				if !ok || rehash || err != nil {
					t.Errorf("the upgraded hash: ok %v, rehash %v, %v", ok, rehash, err)
				}
				// And the upgraded hash signs in again, without another rewrite.
				r.login(newBrowser(t), tt.email, tt.pw)
				if again, _ := e.st.UserByID(e.ctx, u.ID); again.PasswordHash != got.PasswordHash {
					t.Error("a current hash was rewritten")
				}
			})
		}

		t.Run("authenticator", func(t *testing.T) {
			box, err := secret.NewBox(key)
			if err != nil {
				t.Fatal(err)
			}
			const appSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // what the person's app holds
			f, err := totp.Imported(box, strings.ToLower(totp.Group(appSecret)), "Old portal app")
			if err != nil {
				t.Fatal(err)
			}
			h, _ := bcrypt.GenerateFromPassword([]byte("legacy bcrypt passphrase"), bcrypt.MinCost)
			u := &store.User{TenantID: e.tenant.ID, Email: "totp@example.org", Role: store.RolePatient, PasswordHash: string(h),
				Phone: "+12025550123", PhoneVerified: true}
			if err := e.st.ImportUser(e.ctx, u, f); err != nil {
				t.Fatal(err)
			}
			br := newBrowser(t)
			start, fl := r.authURL()
			br.get(start)
			br.submitLogin(e.issuer, "totp@example.org", "legacy bcrypt passphrase")
			if !strings.Contains(br.body, `action="/mfa/verify"`) || !strings.Contains(br.body, `autocomplete="one-time-code"`) {
				t.Fatalf("an imported authenticator must be asked for at once (no enrollment): %d %.300s", br.status, br.body)
			}
			fields := br.formFields()
			fields.Set("code", wrongCode(t, appSecret))
			br.post(e.issuer+"/mfa/verify", fields)
			if br.status != 401 {
				t.Fatalf("a wrong code: %d", br.status)
			}
			fields = br.formFields()
			fields.Set("code", codeFor(t, appSecret, time.Now()))
			br.post(e.issuer+"/mfa/verify", fields)
			_, idt := r.exchange(br.code(fl), fl)
			c := claims(t, idt)
			if idt.Subject != u.ID || c["acr"] != "urn:tessera:acr:mfa" || !slices.Equal(toStrings(c["amr"]), []string{"pwd", "otp", "mfa"}) {
				t.Errorf("sub %q acr %v amr %v; want %q, mfa, [pwd otp mfa]", idt.Subject, c["acr"], c["amr"], u.ID)
			}
		})
	})
}
