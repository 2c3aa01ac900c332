package otp

import (
	"context"
	"fmt"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
)

// SendNotice delivers m to destination where a code would have gone, under the same cooldown
// and caps as a code for userID (it counts as a send). What it records can never match an
// answer: a keyed hash is base64url and never contains the ':' this value starts with.
//
// Self-service registration uses it when the address already has an account: the registrant
// sees exactly the pages and limits a code would give, the owner gets a notice instead of a
// code, and no code exists that could finish the registration.
func (c *Channel) SendNotice(ctx context.Context, userID, destination, ip string, m delivery.Message) error {
	if destination == "" {
		return factor.ErrNoDestination
	}
	rec := &store.OTPCode{UserID: userID, Channel: c.kind, Destination: destination, CodeHash: ":notice:" + secret.RandomToken(32)}
	if err := c.st.IssueOTP(ctx, rec, ip, c.ttl, c.limits); err != nil {
		return err
	}
	m.Channel, m.To = c.kind, destination
	if err := c.sender.Send(ctx, m); err != nil {
		return fmt.Errorf("otp: deliver %s notice: %w", c.kind, err)
	}
	return nil
}
