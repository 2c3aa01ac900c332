package otp

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

func TestEmailCodes(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	box, _ := secret.NewBox(bytes.Repeat([]byte{7}, 32))
	tn := &store.Tenant{Name: "T"}
	st.CreateTenant(ctx, tn)
	u := &store.User{TenantID: tn.ID, Email: "p@example.org", Role: "patient"}
	st.CreateUser(ctx, u)
	out := &delivery.Outbox{}
	c := Email(st, box.Hasher("otp"), out)
	compose := func(code string) delivery.Message {
		return delivery.Message{Subject: "Code", Body: "Your code is " + code}
	}
	if err := c.Send(ctx, u.ID, u.Email, "203.0.113.1", compose); err != nil {
		t.Fatal(err)
	}
	msgs := out.List()
	code := regexp.MustCompile(`\d{6}`).FindString(msgs[0].Body)
	if len(msgs) != 1 || msgs[0].To != "p@example.org" || msgs[0].Channel != "email" || code == "" {
		t.Fatalf("outbox: %+v", msgs)
	}
	var lim *store.ErrSendLimited
	if err := c.Send(ctx, u.ID, u.Email, "203.0.113.1", compose); !errors.As(err, &lim) {
		t.Errorf("an immediate resend must wait for the cooldown: %v", err)
	}
	if err := c.VerifyUser(ctx, u.ID, u.Email, "000000"); !errors.Is(err, factor.ErrWrong) && code != "000000" {
		t.Errorf("wrong code: %v", err)
	}
	if err := c.VerifyUser(ctx, u.ID, u.Email, code[:3]+" "+code[3:]); err != nil {
		t.Fatalf("right code (typed with a space): %v", err)
	}
	if err := c.VerifyUser(ctx, u.ID, u.Email, code); !errors.Is(err, factor.ErrWrong) {
		t.Errorf("a spent code: %v", err)
	}
}
