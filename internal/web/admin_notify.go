package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/store"
)

// The login pages send the admin service's messages, with the same mail and the same catalog
// as the sign-in's notices.

var _ admin.Notifier = (*Login)(nil)

// inviteTTL is how long an invitation's set-password link works.
const inviteTTL = 7 * 24 * time.Hour

// personRequest is a request with only the person's language to go by (an admin action is not
// the person's own request).
func personRequest(ctx context.Context) *http.Request {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	return r
}

// Invite emails a new user a single-use link to set their password: the password-reset link
// (/reset), valid for a week.
func (l *Login) Invite(ctx context.Context, t *store.Tenant, u *store.User) error {
	if l.Mailer == nil {
		return errors.New("no email sender is configured")
	}
	token := randomValue()
	if err := l.st.CreatePasswordReset(ctx, u.ID, l.sessions.Sum("reset:"+token), inviteTTL); err != nil {
		return err
	}
	link := l.Issuer + "/reset?" + url.Values{"token": {token}}.Encode()
	loc := l.pages.Language(nil, personRequest(ctx), nil, u.Locale)
	m := deliveryMessage(u.Email, loc.T("email.invite.subject", "Tenant", t.Name), loc.T("email.invite.body", "Tenant", t.Name, "Link", link))
	return l.Mailer.Send(context.WithoutCancel(ctx), m)
}

// Notify emails the notice notice.<kind> to the person.
func (l *Login) Notify(ctx context.Context, t *store.Tenant, u *store.User, kind string) {
	l.notifyIn(personRequest(ctx), u, t, nil, kind, nil)
}
