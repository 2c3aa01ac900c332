package backupcode

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

func TestBackupCodes(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	box, _ := secret.NewBox(bytes.Repeat([]byte{6}, 32))
	tn := &store.Tenant{Name: "T"}
	st.CreateTenant(ctx, tn)
	u := &store.User{TenantID: tn.ID, Email: "p@example.org", Role: "patient"}
	st.CreateUser(ctx, u)
	c := New(st, box.Hasher("backup-code"))

	codes, err := c.Generate(ctx, u.ID)
	if err != nil || len(codes) != 10 {
		t.Fatalf("generate: %v %v", codes, err)
	}
	for _, code := range codes {
		if len(code) != 11 || code[5] != '-' || strings.ContainsAny(code, "01ilo") {
			t.Errorf("bad code %q", code)
		}
	}
	// Typed with spaces and capitals, without the dash: accepted once.
	typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	if err := c.Use(ctx, u.ID, typed); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := c.Use(ctx, u.ID, codes[0]); !errors.Is(err, factor.ErrWrong) {
		t.Errorf("second use: %v", err)
	}
	if n, _ := c.Left(ctx, u.ID); n != 9 {
		t.Errorf("left = %d", n)
	}
	// Regenerating replaces the whole set: old codes stop working.
	if _, err := c.Generate(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Use(ctx, u.ID, codes[1]); !errors.Is(err, factor.ErrWrong) {
		t.Errorf("an old code after regeneration: %v", err)
	}
	if n, _ := c.Left(ctx, u.ID); n != 10 {
		t.Errorf("left after regeneration = %d", n)
	}
	if err := c.Use(ctx, u.ID, "short"); !errors.Is(err, factor.ErrWrong) {
		t.Errorf("short input: %v", err)
	}
}
