package totp

import (
	"bytes"
	"context"
	"errors"
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
