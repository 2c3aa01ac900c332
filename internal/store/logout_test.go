package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestLogoutQueue: ending a session queues one delivery per client of the session with a
// back-channel logout URI (once, however often it is ended); two nodes claiming at the same
// moment never get the same row; an outcome releases the claim or finishes the row.
func TestLogoutQueue(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Queue"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			u := &store.User{TenantID: tn.ID, Email: "q@example.org", Role: store.RolePatient}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			var sessions []string
			for i := 0; i < 6; i++ {
				se := &store.Session{UserID: u.ID, TenantID: tn.ID, CookieHash: fmt.Sprint("cookie", i)}
				if err := st.CreateSession(ctx, se, time.Hour); err != nil {
					t.Fatal(err)
				}
				sessions = append(sessions, se.ID)
				for j, uri := range []string{"https://a.example/bcl", "https://b.example/bcl", ""} {
					cl := &store.Client{TenantID: tn.ID, Name: fmt.Sprintf("c%d-%d", i, j), Type: store.ClientWeb, BackchannelLogoutURI: uri}
					if err := st.CreateClient(ctx, cl); err != nil {
						t.Fatal(err)
					}
					ar := &store.AuthRequest{ClientID: cl.ID, TenantID: tn.ID, Params: "{}"}
					if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
						t.Fatal(err)
					}
					if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, se.ID, time.Now(), []string{"pwd"}, ""); err != nil {
						t.Fatal(err)
					}
					for k := 0; k < 2; k++ { // a second code of the same pair is noted once
						if err := st.NoteSessionClient(ctx, ar.ID); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if scs, _ := st.SessionClients(ctx, sessions[0]); len(scs) != 3 {
				t.Fatalf("session clients: %d, want 3", len(scs))
			}
			for _, id := range sessions {
				if err := st.RevokeSession(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.QueueLogouts(ctx, sessions); err != nil { // again: nothing twice
				t.Fatal(err)
			}
			now := time.Now()
			var mu sync.Mutex
			claimed := map[string]int{}
			var wg sync.WaitGroup
			for n := 0; n < 3; n++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						rows, err := st.ClaimLogouts(ctx, now, time.Minute, 2, nil)
						if err != nil {
							t.Error(err)
							return
						}
						if len(rows) == 0 {
							return
						}
						mu.Lock()
						for _, r := range rows {
							claimed[r.ID]++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(claimed) != 12 {
				t.Fatalf("claimed %d deliveries, want 12 (2 per session)", len(claimed))
			}
			for id, n := range claimed {
				if n != 1 {
					t.Errorf("delivery %s claimed %d times", id, n)
				}
			}
			// Claimed rows are not due for anyone else until released.
			if rows, _ := st.ClaimLogouts(ctx, now.Add(30*time.Second), time.Minute, 100, nil); len(rows) != 0 {
				t.Errorf("%d claimed rows claimed again within the lease", len(rows))
			}
			ds, _ := st.LogoutDeliveries(ctx, sessions[0])
			if err := st.LogoutDone(ctx, &ds[0], now, false, 10*time.Second, "HTTP 503"); err != nil {
				t.Fatal(err)
			}
			if err := st.LogoutDone(ctx, &ds[1], now, true, 0, ""); err != nil {
				t.Fatal(err)
			}
			rows, _ := st.ClaimLogouts(ctx, now.Add(11*time.Second), time.Minute, 100, sessions[:1])
			if len(rows) != 1 || rows[0].ID != ds[0].ID || rows[0].Attempts != 2 {
				t.Errorf("after a failure and a success: %+v", rows)
			}

			// A password reset ends the person's other sessions: their RPs are queued too.
			se := &store.Session{UserID: u.ID, TenantID: tn.ID, CookieHash: "cookie-reset"}
			if err := st.CreateSession(ctx, se, time.Hour); err != nil {
				t.Fatal(err)
			}
			cl := &store.Client{TenantID: tn.ID, Name: "reset", Type: store.ClientWeb, BackchannelLogoutURI: "https://r.example/bcl"}
			st.CreateClient(ctx, cl)
			ar := &store.AuthRequest{ClientID: cl.ID, TenantID: tn.ID, Params: "{}"}
			st.CreateAuthRequest(ctx, ar, time.Hour)
			st.CompleteAuthRequest(ctx, ar.ID, u.ID, se.ID, time.Now(), []string{"pwd"}, "")
			st.NoteSessionClient(ctx, ar.ID)
			if err := st.CreatePasswordReset(ctx, u.ID, "reset-hash", time.Hour); err != nil {
				t.Fatal(err)
			}
			pr, err := st.PasswordResetByToken(ctx, "reset-hash")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.ResetPassword(ctx, pr.ID, u.ID, "$argon2id$new"); err != nil {
				t.Fatal(err)
			}
			if ds, _ := st.LogoutDeliveries(ctx, se.ID); len(ds) != 1 || ds[0].ClientID != cl.ID {
				t.Errorf("a password reset queued %+v", ds)
			}

			// Pruning keeps what is recent and removes finished deliveries once they are old.
			if err := st.PruneLogouts(ctx, time.Hour); err != nil {
				t.Fatal(err)
			}
			if ds, _ := st.LogoutDeliveries(ctx, sessions[0]); len(ds) != 2 {
				t.Errorf("pruning removed recent deliveries: %d left", len(ds))
			}
			st.SetClock(func() time.Time { return time.Now().Add(48 * time.Hour) })
			if err := st.PruneLogouts(ctx, time.Hour); err != nil {
				t.Fatal(err)
			}
			st.SetClock(time.Now)
			ds, _ = st.LogoutDeliveries(ctx, sessions[0])
			if len(ds) != 1 || ds[0].Result != "" {
				t.Errorf("after pruning, want only the pending delivery: %+v", ds)
			}
			if scs, _ := st.SessionClients(ctx, sessions[0]); len(scs) != 0 {
				t.Errorf("session clients of an expired session kept: %d", len(scs))
			}
		})
	}
}

// TestEveryEndOfAPersonTellsTheRelyingParties: each way a person's sessions end all at once —
// sign out everywhere, a password reset, and an administrator's revoke, disable and MFA reset —
// ends the session, revokes its refresh family and queues the back-channel logout of the
// relying party the session signed in to, in the same transaction.
func TestEveryEndOfAPersonTellsTheRelyingParties(t *testing.T) {
	ctx := context.Background()
	ends := map[string]func(st *store.Store, tenantID, userID string) error{
		"sign out everywhere": func(st *store.Store, _, userID string) error { _, err := st.SignOutEverywhere(ctx, userID); return err },
		"admin revoke": func(st *store.Store, tid, uid string) error {
			_, _, err := st.RevokeUserSessions(ctx, tid, uid)
			return err
		},
		"admin disable":   func(st *store.Store, tid, uid string) error { return st.SetUserDisabled(ctx, tid, uid, true) },
		"admin reset MFA": func(st *store.Store, tid, uid string) error { _, err := st.ResetMFA(ctx, tid, uid); return err },
		"password reset": func(st *store.Store, _, uid string) error {
			if err := st.CreatePasswordReset(ctx, uid, "reset-hash", time.Hour); err != nil {
				return err
			}
			pr, err := st.PasswordResetByToken(ctx, "reset-hash")
			if err != nil {
				return err
			}
			return st.ResetPassword(ctx, pr.ID, uid, "new-hash")
		},
	}
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			tn := &store.Tenant{Name: "Ends"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			cl := &store.Client{TenantID: tn.ID, Name: "Portal", Type: store.ClientWeb, BackchannelLogoutURI: "https://portal.example/bcl"}
			if err := st.CreateClient(ctx, cl); err != nil {
				t.Fatal(err)
			}
			for name, end := range ends {
				u := &store.User{TenantID: tn.ID, Email: strings.ReplaceAll(name, " ", ".") + "@example.org", Role: store.RolePatient}
				if err := st.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				se := &store.Session{UserID: u.ID, TenantID: tn.ID, CookieHash: "cookie-" + u.ID}
				if err := st.CreateSession(ctx, se, time.Hour); err != nil {
					t.Fatal(err)
				}
				ar := &store.AuthRequest{ClientID: cl.ID, TenantID: tn.ID, Params: "{}"}
				if err := st.CreateAuthRequest(ctx, ar, time.Hour); err != nil {
					t.Fatal(err)
				}
				if err := st.CompleteAuthRequest(ctx, ar.ID, u.ID, se.ID, time.Now(), []string{"pwd"}, ""); err != nil {
					t.Fatal(err)
				}
				if err := st.NoteSessionClient(ctx, ar.ID); err != nil {
					t.Fatal(err)
				}
				if err := end(st, tn.ID, u.ID); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if ds, err := st.LogoutDeliveries(ctx, se.ID); err != nil || len(ds) != 1 || ds[0].ClientID != cl.ID {
					t.Errorf("%s: back-channel logout deliveries %+v (%v), want one to the portal", name, ds, err)
				}
				if revoked, err := st.TokenRevoked(ctx, "", se.ID, ""); err != nil || !revoked {
					t.Errorf("%s: the session is not on the revocation list (%v)", name, err)
				}
			}
		})
	}
}
