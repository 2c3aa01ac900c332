package otp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestSendNotice: a notice goes out as written, counts like a code for the cooldown and caps,
// and leaves nothing any answer could match.
func TestSendNotice(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	box, _ := secret.NewBox(bytes.Repeat([]byte{7}, 32))
	out := &delivery.Outbox{}
	c := must(New("email", st, box.Hasher("otp"), out, Options{Limits: store.SendLimits{PerDestination: 2}}))
	const owner = "registration:r1:email"
	notice := delivery.Message{Subject: "Someone tried to create an account", Body: "If it was you, use Forgot password."}
	if err := c.SendNotice(ctx, owner, "pat@example.org", "203.0.113.1", notice); err != nil {
		t.Fatal(err)
	}
	msgs := out.List()
	if len(msgs) != 1 || msgs[0].To != "pat@example.org" || msgs[0].Channel != "email" || msgs[0].Body != notice.Body ||
		msgs[0].Subject != notice.Subject {
		t.Fatalf("outbox: %+v", msgs)
	}
	var lim *store.ErrSendLimited
	if err := c.Send(ctx, owner, "pat@example.org", "203.0.113.1", func(code string) delivery.Message {
		return delivery.Message{Body: code}
	}); !errors.As(err, &lim) || lim.Reason != "cooldown" {
		t.Errorf("a code right after a notice must wait for the cooldown: %v", err)
	}
	if err := c.SendNotice(ctx, owner, "pat@example.org", "203.0.113.1", notice); !errors.As(err, &lim) {
		t.Errorf("a notice right after a notice must wait for the cooldown: %v", err)
	}
	// The per-address cap counts notices too, whoever asks.
	if err := c.SendNotice(ctx, "registration:r2:email", "pat@example.org", "203.0.113.2", notice); err != nil {
		t.Fatal(err)
	}
	if err := c.SendNotice(ctx, "registration:r3:email", "pat@example.org", "203.0.113.3", notice); !errors.As(err, &lim) || lim.Reason != "destination" {
		t.Errorf("third notice to one address within the hour: %v", err)
	}
	for i := range 1000 { // a sample: no code matches what a notice recorded
		code := fmt.Sprintf("%06d", i*997)
		if err := c.VerifyUser(ctx, owner, "pat@example.org", code); !errors.Is(err, factor.ErrWrong) {
			t.Fatalf("code %s answered a notice: %v", code, err)
		}
	}
	if err := c.SendNotice(ctx, owner, "", "203.0.113.1", notice); !errors.Is(err, factor.ErrNoDestination) {
		t.Errorf("no destination: %v", err)
	}
}
