package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestSignInStepMatchesGorm: the joined read of a sign-in step returns exactly what gorm's reads
// of the auth request, the session and the user return, every column included; a missing or
// dead piece is ErrNotFound.
func TestSignInStepMatchesGorm(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Step"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			at := int64(77)
			u := &store.User{TenantID: tn.ID, Email: "step@example.org", Role: store.RolePatient, LastOtherMFAAt: &at, MFAFailures: 2}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			se := &store.Session{CookieHash: "cookie-1", UserID: u.ID, TenantID: tn.ID, AuthTime: 5, AMR: "pwd", ACR: "urn:a",
				IP: "127.0.0.1", UserAgent: "ua"}
			if err := st.CreateSession(ctx, se, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := st.SessionMFA(ctx, se.ID, time.Unix(5, 0), []string{"pwd", "otp"}, "urn:b"); err != nil {
				t.Fatal(err)
			}
			ar := &store.AuthRequest{ClientID: "c", TenantID: tn.ID, Params: `{"x":1}`, ProxyGrantID: "g"}
			if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, se.ID, time.Unix(9, 0), []string{"pwd"}, "urn:a"); err != nil {
				t.Fatal(err)
			}
			if err := st.SaveAuthCode(ctx, ar.ID, "code-1", time.Minute); err != nil {
				t.Fatal(err)
			}
			// Two active factors (the second the default), one pending, two unused backup codes
			// and a used one: the step reads the active ones, default first, and the count.
			for _, f := range []*store.Factor{{UserID: u.ID, TenantID: tn.ID, Kind: "totp", Label: "app", SecretSealed: []byte{1, 2}},
				{UserID: u.ID, TenantID: tn.ID, Kind: "sms", Label: "+15555550100"}, {UserID: u.ID, TenantID: tn.ID, Kind: "email"}} {
				if err := st.CreateFactor(ctx, f); err != nil {
					t.Fatal(err)
				}
				if f.Kind != "email" {
					if err := st.ActivateFactor(ctx, u.ID, f.ID); err != nil {
						t.Fatal(err)
					}
				}
				if f.Kind == "sms" {
					if err := st.SetDefaultFactor(ctx, u.ID, f.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := st.ReplaceBackupCodes(ctx, u.ID, []string{"b1", "b2", "b3"}); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.UseBackupCode(ctx, u.ID, "b2"); !ok || err != nil {
				t.Fatalf("UseBackupCode = %v, %v", ok, err)
			}
			step, err := st.SignInStep(ctx, ar.ID, "cookie-1", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			gotAR, gotSe, gotU := step.AuthRequest, step.Session, step.User
			wantFactors, wantLeft, _, _ := st.ActiveFactorsBackupLeft(ctx, u.ID)
			if len(wantFactors) != 2 || wantFactors[0].Kind != "sms" || wantLeft != 2 {
				t.Fatalf("setup: factors %+v, backup left %d", wantFactors, wantLeft)
			}
			if !reflect.DeepEqual(step.Factors, wantFactors) || step.BackupLeft != wantLeft {
				t.Errorf("SignInStep factors %+v, backup left %d\nwant %+v, %d", step.Factors, step.BackupLeft, wantFactors, wantLeft)
			}
			wantAR, _ := st.AuthRequestByID(ctx, ar.ID)
			wantSe, _ := st.SessionByCookie(ctx, "cookie-1", time.Hour)
			wantU, _ := st.GormUserByID(ctx, u.ID)
			if !reflect.DeepEqual(gotAR, wantAR) || !reflect.DeepEqual(gotSe, wantSe) || !reflect.DeepEqual(gotU, wantU) {
				t.Errorf("SignInStep:\n%+v\n%+v\n%+v\ngorm:\n%+v\n%+v\n%+v", gotAR, gotSe, gotU, wantAR, wantSe, wantU)
			}
			// Every column of the three rows is set above, so a column added to a model and
			// missed in signin.go shows here.
			for _, v := range []any{gotAR, gotSe} {
				rv := reflect.ValueOf(v).Elem()
				for i := range rv.NumField() {
					if name := rv.Type().Field(i).Name; rv.Field(i).IsZero() && name != "CodeUsedAt" && name != "RevokedAt" { // NULL in a live row
						t.Errorf("set %s.%s in this test", rv.Type().Name(), rv.Type().Field(i).Name)
					}
				}
			}
			for _, c := range []struct{ ar, cookie string }{{ar.ID, "other"}, {"nope", "cookie-1"}} {
				if _, err := st.SignInStep(ctx, c.ar, c.cookie, time.Hour); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("SignInStep(%q, %q) = %v, want ErrNotFound", c.ar, c.cookie, err)
				}
			}
			gotBound, err := st.AuthRequestForBrowser(ctx, ar.ID, "cookie-1", time.Hour)
			if err != nil || !reflect.DeepEqual(gotBound, wantAR) {
				t.Errorf("AuthRequestForBrowser = %+v, %v\ngorm                   %+v", gotBound, err, wantAR)
			}
			if _, err := st.AuthRequestForBrowser(ctx, ar.ID, "other", time.Hour); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("AuthRequestForBrowser, another browser: %v", err)
			}
			if err := st.RevokeSession(ctx, se.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SignInStep(ctx, ar.ID, "cookie-1", time.Hour); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("revoked session: %v", err)
			}
			if _, err := st.AuthRequestForBrowser(ctx, ar.ID, "cookie-1", time.Hour); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("AuthRequestForBrowser, revoked session: %v", err)
			}
		})
	}
}

// TestRefreshTokenAndUser: the refresh grant's joined read returns what the two reads return,
// and answers a spent, unknown or orphaned token exactly as RefreshTokenByHash does.
func TestRefreshTokenAndUser(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Refresh"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			u := &store.User{TenantID: tn.ID, Email: "rt@example.org", Role: store.RolePatient, Name: "Pat"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			rt := &store.RefreshToken{TokenHash: "j-1", ClientID: "c", TenantID: tn.ID, UserID: u.ID, Scopes: "openid"}
			if err := st.IssueRefreshToken(ctx, rt, time.Hour, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			gotRT, gotU, err := st.RefreshTokenAndUser(ctx, "j-1")
			wantRT, _ := st.PeekRefreshToken(ctx, "j-1")
			wantU, _ := st.GormUserByID(ctx, u.ID)
			if err != nil || !reflect.DeepEqual(gotRT, wantRT) || !reflect.DeepEqual(gotU, wantU) {
				t.Errorf("RefreshTokenAndUser = %+v, %+v, %v\nwant %+v, %+v", gotRT, gotU, err, wantRT, wantU)
			}
			if _, _, err := st.RefreshTokenAndUser(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown token: %v", err)
			}
			orphan := &store.RefreshToken{TokenHash: "j-2", ClientID: "c", TenantID: tn.ID, UserID: "gone", Scopes: "openid"}
			if err := st.IssueRefreshToken(ctx, orphan, time.Hour, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			if got, gu, err := st.RefreshTokenAndUser(ctx, "j-2"); err != nil || got.ID != orphan.ID || gu != nil {
				t.Errorf("token of no person: %+v, %+v, %v", got, gu, err)
			}
			next := &store.RefreshToken{TokenHash: "j-3", ClientID: "c", TenantID: tn.ID, UserID: u.ID}
			if err := st.RotateRefreshToken(ctx, gotRT, next, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.RefreshTokenAndUser(ctx, "j-1"); !errors.Is(err, store.ErrReplayed) {
				t.Errorf("spent token: %v, want ErrReplayed", err)
			}
			if _, _, err := st.RefreshTokenAndUser(ctx, "j-3"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("token of a revoked family: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestUserUnlessRevoked: the person and the revocation list in one read, the same answers as
// UserByID and TokenRevoked.
func TestUserUnlessRevoked(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Userinfo"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			u := &store.User{TenantID: tn.ID, Email: "ui@example.org", Role: store.RolePatient, Name: "Pat"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			got, revoked, err := st.UserUnlessRevoked(ctx, u.ID, "jti-1", "sid-1", "grant-1")
			want, _ := st.GormUserByID(ctx, u.ID)
			if err != nil || revoked || !reflect.DeepEqual(got, want) {
				t.Errorf("UserUnlessRevoked = %+v, %v, %v\nwant %+v", got, revoked, err, want)
			}
			if err := st.RevokeAccessToken(ctx, "jti-1", time.Now().Add(time.Hour).Unix()); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{u.ID, "nobody"} {
				if _, revoked, err := st.UserUnlessRevoked(ctx, id, "jti-1", "sid-1", "grant-1"); err != nil || !revoked {
					t.Errorf("revoked jti, user %q: revoked %v, %v", id, revoked, err)
				}
			}
			if gu, revoked, err := st.UserUnlessRevoked(ctx, "nobody", "jti-2", "", ""); err != nil || revoked || gu != nil {
				t.Errorf("no such person: %+v, %v, %v", gu, revoked, err)
			}
		})
	}
}

// TestPasswordStep: the password step's one read gives what ThrottleBlockedUntil and
// UserByEmail give, for a person who exists and for one who does not (one row either way).
func TestPasswordStep(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Password"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			pr := mustPractice(t, st, tn.ID)
			locked, at := int64(5), int64(6)
			u := &store.User{TenantID: tn.ID, Email: "Pat@Example.org", Role: store.RolePatient, Name: "Pat", PracticeID: &pr,
				PasswordHash: "$argon2id$x", LockedAt: &locked, LastOtherMFAAt: &at, MFAFailures: 3, EmailVerified: true}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			want, _ := st.GormUserByID(ctx, u.ID)
			for _, email := range []string{"pat@example.org", "  PAT@example.ORG "} {
				got, until, anyFail, err := st.PasswordStep(ctx, tn.ID, email, "acct", "ip")
				if err != nil || !reflect.DeepEqual(got, want) || until != 0 || anyFail {
					t.Errorf("PasswordStep(%q) = %+v, %d, %v, %v\nwant %+v", email, got, until, anyFail, err, want)
				}
			}
			if got, _, _, err := st.PasswordStep(ctx, tn.ID, "nobody@example.org", "acct", "ip"); got != nil || err != nil {
				t.Errorf("unknown email: %+v, %v; want nil, nil", got, err)
			}
			if got, _, _, err := st.PasswordStep(ctx, "other-tenant", "pat@example.org", "acct", "ip"); got != nil || err != nil {
				t.Errorf("another tenant: %+v, %v; want nil, nil", got, err)
			}
			state, err := st.ThrottleFail(ctx, "ip", time.Hour, func(int) time.Duration { return time.Minute })
			if err != nil {
				t.Fatal(err)
			}
			wantUntil, wantAny, _ := st.ThrottleBlockedUntil(ctx, "acct", "ip")
			for _, email := range []string{"pat@example.org", "nobody@example.org"} {
				got, until, anyFail, err := st.PasswordStep(ctx, tn.ID, email, "acct", "ip")
				if err != nil || until != wantUntil || until != state.BlockedUntil || anyFail != wantAny || !anyFail {
					t.Errorf("throttled, %s: until %d, any %v, %v; want %d, true", email, until, anyFail, err, wantUntil)
				}
				if (got != nil) != (email == "pat@example.org") {
					t.Errorf("throttled, %s: user %+v", email, got)
				}
			}
		})
	}
}

// TestRedeemAuthCode: the code's request comes with its person (on PostgreSQL, read in the
// statement that spends the code); a replay is still refused and still revokes.
func TestRedeemAuthCode(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Code"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			u := &store.User{TenantID: tn.ID, Email: "code@example.org", Role: store.RolePatient, Name: "Pat"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			ar := &store.AuthRequest{ClientID: "c", TenantID: tn.ID, Params: `{}`}
			if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, "sid", time.Unix(9, 0), []string{"pwd"}, "urn:a"); err != nil {
				t.Fatal(err)
			}
			if err := st.SaveAuthCode(ctx, ar.ID, "code-hash", time.Minute); err != nil {
				t.Fatal(err)
			}
			wantAR, _ := st.AuthRequestByID(ctx, ar.ID)
			gotAR, gotU, err := st.RedeemAuthCode(ctx, "code-hash")
			if err != nil || gotAR.ID != ar.ID || gotAR.UserID != u.ID || gotAR.CodeUsedAt == nil || gotAR.ACR != wantAR.ACR || gotAR.Params != wantAR.Params {
				t.Fatalf("RedeemAuthCode = %+v, %v", gotAR, err)
			}
			if b.Name == "postgres" {
				want, _ := st.GormUserByID(ctx, u.ID)
				if !reflect.DeepEqual(gotU, want) {
					t.Errorf("person read with the code: %+v\nwant %+v", gotU, want)
				}
			} else if gotU != nil && gotU.ID != u.ID {
				t.Errorf("person read with the code: %+v", gotU)
			}
			if _, _, err := st.RedeemAuthCode(ctx, "code-hash"); !errors.Is(err, store.ErrReplayed) {
				t.Errorf("second redemption: %v, want ErrReplayed", err)
			}
			if _, _, err := st.RedeemAuthCode(ctx, "unknown"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown code: %v, want ErrNotFound", err)
			}
		})
	}
}

func mustPractice(t *testing.T, st *store.Store, tenantID string) string {
	t.Helper()
	p := &store.Practice{TenantID: tenantID, Name: "Main Street"}
	if err := st.CreatePractice(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestSQLiteSettings: pooled SQLite connections run with the settings sqliteDSN asks for (a
// setting the driver ignored would silently cost durability, concurrency or speed).
func TestSQLiteSettings(t *testing.T) {
	st, err := store.Open("sqlite", t.TempDir()+"/settings.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "10000",
		"synchronous": "1", "wal_autocheckpoint": "10000"}
	for pragma, v := range want {
		if got, err := st.Pragma(context.Background(), pragma); err != nil || got != v {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, v)
		}
	}
}

// TestSaveAuthCodeNoted: the callback's one write attaches the code and notes the session's
// client (the RPs back-channel logout tells); a request gets one code only, an unfinished one
// none, and a request without a session notes no client. Both dialects (PostgreSQL runs it as
// one statement).
func TestSaveAuthCodeNoted(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Noted"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			u := &store.User{TenantID: tn.ID, Email: "noted@example.org", Role: store.RolePatient}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			se := &store.Session{CookieHash: "cookie-noted", UserID: u.ID, TenantID: tn.ID}
			if err := st.CreateSession(ctx, se, time.Hour); err != nil {
				t.Fatal(err)
			}
			request := func(sessionID string, complete bool) string {
				ar := &store.AuthRequest{ClientID: "portal", TenantID: tn.ID, Params: `{}`}
				if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
					t.Fatal(err)
				}
				if complete {
					if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, sessionID, time.Unix(9, 0), []string{"pwd"}, "urn:a"); err != nil {
						t.Fatal(err)
					}
				}
				return ar.ID
			}

			id := request(se.ID, true)
			if err := st.SaveAuthCodeNoted(ctx, id, "code-1", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := st.SaveAuthCodeNoted(ctx, id, "code-2", time.Minute); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a second code for one request: %v, want ErrNotFound", err)
			}
			if ar, _, err := st.RedeemAuthCode(ctx, "code-1"); err != nil || ar.ID != id {
				t.Errorf("the first code: %+v, %v", ar, err)
			}
			if _, _, err := st.RedeemAuthCode(ctx, "code-2"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the refused second code redeems: %v", err)
			}
			if err := st.SaveAuthCodeNoted(ctx, request(se.ID, true), "code-3", time.Minute); err != nil {
				t.Fatal(err) // the same session and client again: noted once
			}
			if cs, err := st.SessionClients(ctx, se.ID); err != nil || len(cs) != 1 || cs[0].ClientID != "portal" || cs[0].UserID != u.ID {
				t.Errorf("session clients = %+v, %v; want the portal once", cs, err)
			}

			if err := st.SaveAuthCodeNoted(ctx, request(se.ID, false), "code-4", time.Minute); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a code for an unfinished request: %v, want ErrNotFound", err)
			}
			if err := st.SaveAuthCodeNoted(ctx, request("", true), "code-5", time.Minute); err != nil {
				t.Errorf("a request without a session: %v", err)
			}
			if cs, err := st.SessionClients(ctx, ""); err != nil || len(cs) != 0 {
				t.Errorf("a request without a session noted %+v, %v", cs, err)
			}
		})
	}
}

// TestSessionMFAOther: the second step's write records the factor on the session and, for a
// factor other than a passkey, the time on the person (the passkey window restarts), at the
// time it returns; a passkey leaves the person's time alone. Both dialects (PostgreSQL runs it
// as one statement).
func TestSessionMFAOther(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			now := time.Unix(1_800_000_000, 0)
			st.SetClock(func() time.Time { return now })
			tn := &store.Tenant{Name: "Other"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			u := &store.User{TenantID: tn.ID, Email: "other@example.org", Role: store.RolePatient}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			se := &store.Session{CookieHash: "cookie-other", UserID: u.ID, TenantID: tn.ID, AuthTime: 5, AMR: "pwd"}
			if err := st.CreateSession(ctx, se, time.Hour); err != nil {
				t.Fatal(err)
			}

			now = now.Add(time.Minute)
			at, err := st.SessionMFAOther(ctx, se.ID, u.ID, time.Unix(5, 0), []string{"pwd", "otp"}, "urn:b", true)
			if err != nil || at != now.Unix() {
				t.Fatalf("SessionMFAOther = %d, %v; want %d", at, err, now.Unix())
			}
			got, err := st.SessionByID(ctx, se.ID)
			if err != nil || got.AMR != "pwd otp" || got.ACR != "urn:b" || got.MFAAt == nil || *got.MFAAt != at || got.LastSeenAt != at {
				t.Errorf("session after the code: %+v, %v", got, err)
			}
			if pu, err := st.UserByID(ctx, u.ID); err != nil || pu.LastOtherMFAAt == nil || *pu.LastOtherMFAAt != at {
				t.Errorf("person's last other factor: %v, %v; want %d", pu.LastOtherMFAAt, err, at)
			}

			now = now.Add(time.Minute)
			at2, err := st.SessionMFAOther(ctx, se.ID, u.ID, time.Unix(5, 0), []string{"pwd", "hwk"}, "urn:c", false)
			if err != nil || at2 != now.Unix() {
				t.Fatalf("SessionMFAOther (passkey) = %d, %v", at2, err)
			}
			if got, err := st.SessionByID(ctx, se.ID); err != nil || got.AMR != "pwd hwk" || *got.MFAAt != at2 {
				t.Errorf("session after the passkey: %+v, %v", got, err)
			}
			if pu, err := st.UserByID(ctx, u.ID); err != nil || pu.LastOtherMFAAt == nil || *pu.LastOtherMFAAt != at {
				t.Errorf("a passkey moved the person's last other factor: %v, %v; want %d", pu.LastOtherMFAAt, err, at)
			}
		})
	}
}
