package totp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

func setup(t *testing.T) (*TOTP, *store.User, *Enrollment, string, *store.Store) {
	t.Helper()
	st := storetest.OpenSQLite(t)
	box, _ := secret.NewBox(bytes.Repeat([]byte{5}, 32))
	tn := &store.Tenant{Name: "Riverside Health"}
	st.CreateTenant(context.Background(), tn)
	u := &store.User{TenantID: tn.ID, Email: "pat@example.org", Role: store.RolePatient}
	st.CreateUser(context.Background(), u)
	f := New(st, box)
	now := time.Date(2027, 1, 10, 9, 0, 15, 0, time.UTC)
	f.SetClock(func() time.Time { return now })
	e, err := f.Begin(context.Background(), u, tn.Name)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := otp.NewKeyFromURL(e.URL)
	return f, u, e, k.Secret(), st
}

func codeAt(t *testing.T, secret string, step int64) string {
	c, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnrollment(t *testing.T) {
	f, u, e, sec, st := setup(t)
	if !strings.Contains(e.URL, "issuer=Riverside") || !strings.Contains(e.URL, "pat@example.org") ||
		!strings.HasPrefix(e.QRPNG, "data:image/png;base64,") || strings.ReplaceAll(e.Key, " ", "") != sec {
		t.Errorf("enrollment: %+v", e)
	}
	again, err := f.Begin(context.Background(), u, "Riverside Health")
	if err != nil || again.FactorID != e.FactorID || again.Key != e.Key {
		t.Errorf("a second Begin must show the same pending authenticator: %+v %v", again, err)
	}
	row, _ := st.FactorByID(context.Background(), u.ID, e.FactorID)
	if row.Active || bytes.Contains(row.SecretSealed, []byte(sec)) {
		t.Fatal("pending factor must be inactive and its secret sealed")
	}
	if err := f.Confirm(context.Background(), row, "000000"); !errors.Is(err, factor.ErrWrong) && codeAt(t, sec, f.now().Unix()/30) != "000000" {
		t.Errorf("wrong code confirmed: %v", err)
	}
	if err := f.Confirm(context.Background(), row, codeAt(t, sec, f.now().Unix()/30)); err != nil {
		t.Fatal(err)
	}
	if act, _ := st.ActiveFactors(context.Background(), u.ID); len(act) != 1 || !act[0].IsDefault {
		t.Errorf("after confirm: %+v", act)
	}
}

func TestSkewAndReplay(t *testing.T) {
	f, u, e, sec, st := setup(t)
	row, _ := st.FactorByID(context.Background(), u.ID, e.FactorID)
	now := f.now().Unix() / 30
	tests := []struct {
		name string
		step int64
		want error
	}{
		{"two steps back", now - 2, factor.ErrWrong},
		{"one step back", now - 1, nil},
		{"now", now, nil},
		{"the same code again", now, factor.ErrReplayed},
		{"an older code after a newer one", now - 1, factor.ErrReplayed},
		{"one step ahead", now + 1, nil},
		{"two steps ahead", now + 2, factor.ErrWrong},
	}
	for _, tt := range tests {
		err := f.Verify(context.Background(), row, codeAt(t, sec, tt.step))
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := f.Verify(context.Background(), row, "12 34"); !errors.Is(err, factor.ErrWrong) {
		t.Errorf("short input: %v", err)
	}
}

// TestOnceUnderConcurrency: the same code sent twice at once is accepted once.
func TestOnceUnderConcurrency(t *testing.T) {
	f, u, e, sec, st := setup(t)
	row, _ := st.FactorByID(context.Background(), u.ID, e.FactorID)
	code := codeAt(t, sec, f.now().Unix()/30)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.Verify(context.Background(), row, code) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("accepted %d times, want once", ok)
	}
}

// TestImported: a secret another system holds, in the forms systems write it, verifies exactly
// like an enrolled one once imported (same sealing, same replay rule); unusable secrets are
// refused without being repeated.
func TestImported(t *testing.T) {
	st := storetest.OpenSQLite(t)
	box, _ := secret.NewBox(bytes.Repeat([]byte{5}, 32))
	tn := &store.Tenant{Name: "Riverside Health"}
	st.CreateTenant(context.Background(), tn)
	v := New(st, box)
	now := time.Date(2027, 1, 10, 9, 0, 15, 0, time.UTC)
	v.SetClock(func() time.Time { return now })

	const key = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // 160 bits
	good := []struct{ name, in string }{
		{"as apps show it", key},
		{"lower case in groups", "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp"},
		{"dashes", "JBSW-Y3DP-EHPK-3PXP-JBSW-Y3DP-EHPK-3PXP"},
		{"80 bits", "JBSWY3DPEHPK3PXP"},
		{"padded", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3A="},
	}
	for i, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			canon, err := ParseSecret(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Imported(box, tt.in, "")
			if err != nil {
				t.Fatal(err)
			}
			if !f.Active || !f.IsDefault || f.Kind != "totp" || f.Label != DefaultLabel || bytes.Contains(f.SecretSealed, []byte(canon)) {
				t.Fatalf("imported factor = %+v", f)
			}
			u := &store.User{TenantID: tn.ID, Email: fmt.Sprintf("p%d@example.org", i), Role: store.RolePatient}
			if err := st.ImportUser(context.Background(), u, f); err != nil {
				t.Fatal(err)
			}
			row, _ := st.FactorByID(context.Background(), u.ID, f.ID)
			// The code comes from the secret as the other system gave it to the app.
			code := codeAt(t, strings.NewReplacer(" ", "", "-", "").Replace(tt.in), now.Unix()/30)
			if err := v.Verify(context.Background(), row, code); err != nil {
				t.Fatalf("a code from the imported secret: %v", err)
			}
			if err := v.Verify(context.Background(), row, code); !errors.Is(err, factor.ErrReplayed) {
				t.Errorf("the same code twice: %v, want ErrReplayed", err)
			}
		})
	}
	if f, _ := Imported(box, key, "  Old portal  "); f.Label != "Old portal" {
		t.Errorf("label = %q", f.Label)
	}
	bad := []struct{ name, in string }{
		{"empty", ""},
		{"only spaces", "   "},
		{"digits 0, 1, 8, 9", "JBSWY3DPEHPK3PX0"},
		{"72 bits", "JBSWY3DPEHPK3PA"},
		{"64 bits", "JBSWY3DPEHPK3PXA"[:13]},
		{"impossible length", "JBSWY3DPEHPK3PXPJ"},
		{"hex", "3132333435363738393031323334353637383930"},
		{"too long", strings.Repeat("A", 300)},
		{"far too long", strings.Repeat("A", 100000)},
		{"not ascii", "JBSWY3DPEHPK3PXPé"},
	}
	for _, tt := range bad {
		_, err := ParseSecret(tt.in)
		if !errors.Is(err, ErrSecret) {
			t.Errorf("%s: ParseSecret = %v, want ErrSecret", tt.name, err)
			continue
		}
		if len(tt.in) >= 8 && strings.Contains(err.Error(), tt.in[:8]) {
			t.Errorf("%s: the error repeats the secret: %v", tt.name, err)
		}
		if _, err := Imported(box, tt.in, ""); err == nil {
			t.Errorf("%s: Imported accepted it", tt.name)
		}
	}
}
