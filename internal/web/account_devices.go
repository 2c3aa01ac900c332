package web

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// Remembered devices and "Turn off two-step sign-in" on the account console.
//
// Forgetting devices only makes sign-in stricter, so it needs no fresh second factor: the signed-in
// session and the page's CSRF token are enough. Turning MFA off is the opposite, and is offered
// only where policy allows it (a patient, a tenant that allows it, MFA optional); it asks for the
// password, slowed like the sign-in's.

// deviceRow is one line of the remembered-device list.
type deviceRow struct {
	ID, Browser, OS, Network, Remembered, LastUsed, Expires string
	AnyNetwork, This                                        bool
}

// deviceRows lists the person's live remembered devices for the page.
func (l *Login) deviceRows(r *http.Request, ac *accountContext) []deviceRow {
	ds, err := l.st.RememberedDevices(r.Context(), ac.user.ID)
	if err != nil {
		slog.ErrorContext(r.Context(), "account: remembered devices", "err", err)
		return nil
	}
	this := l.thisDeviceHash(r)
	var rows []deviceRow
	for _, d := range ds {
		browser, os := userAgentDevice(d.Label)
		row := deviceRow{ID: d.ID, Browser: browser, OS: os, Network: d.Network, AnyNetwork: d.Network == "*",
			Remembered: time.Unix(d.CreatedAt, 0).UTC().Format(dateLayout), Expires: time.Unix(d.ExpiresAt, 0).UTC().Format(dateLayout),
			This: this != "" && d.TokenHash == this}
		if d.LastUsedAt != nil {
			row.LastUsed = time.Unix(*d.LastUsedAt, 0).UTC().Format(dateLayout)
		}
		rows = append(rows, row)
	}
	return rows
}

// thisDeviceHash is the keyed hash of this browser's device cookie, or "".
func (l *Login) thisDeviceHash(r *http.Request) string {
	v := l.cookies.Get(r, deviceCookie)
	if v == "" || l.Devices == nil {
		return ""
	}
	return l.Devices.Sum(v)
}

// accountForgetDevice is "Forget this device": the device's cookie stops skipping the code at
// once, on every node.
func (l *Login) accountForgetDevice(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	id := r.PostForm.Get("deviceID")
	var this bool
	if ds, err := l.st.RememberedDevices(ctx, ac.user.ID); err == nil {
		h := l.thisDeviceHash(r)
		for _, d := range ds {
			this = this || d.ID == id && h != "" && d.TokenHash == h
		}
	}
	err := l.st.RevokeDevice(ctx, ac.user.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.no_such_device"})
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "account: forget device", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "device.forgotten", id))
	if this {
		l.cookies.Clear(w, deviceCookie)
	}
	http.Redirect(w, r, devicesBack(r)+"?done=device_forgotten", http.StatusSeeOther)
}

// accountForgetDevices is "Forget all devices".
func (l *Login) accountForgetDevices(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if err := l.st.RevokeDevices(ctx, ac.user.ID); err != nil {
		slog.ErrorContext(ctx, "account: forget devices", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "device.forgotten", "all"))
	l.cookies.Clear(w, deviceCookie)
	http.Redirect(w, r, devicesBack(r)+"?done=devices_forgotten", http.StatusSeeOther)
}

// devicesBack is the page a device form came from: the sessions page lists devices too.
func devicesBack(r *http.Request) string {
	if r.PostForm.Get("back") == "sessions" {
		return "/account/sessions"
	}
	return "/account/security"
}

// mayDisableMFA: DESIGN's role policy — a patient may turn MFA off with their password when the
// tenant allows it and its MFA is optional (never when required, whatever the enforcement date,
// never when off: there is nothing to turn off), and only while they have something to turn off.
func mayDisableMFA(ac *accountContext) bool {
	tp := tenantPolicy(ac.tenant)
	return ac.user.Role == store.RolePatient && ac.role().MayDisableMFA && tp.PatientsMayDisableMFA &&
		tp.MFAMode == policy.MFAOptional && len(ac.factors) > 0
}

// accountMFAOff is "Turn off two-step sign-in": after the password, every factor, backup code
// and remembered device of the person goes in one transaction (which checks the policy again on
// the rows as they are), so the next sign-in asks for the password only.
func (l *Login) accountMFAOff(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if !mayDisableMFA(ac) {
		ev := l.accountEvent(ac, "mfa.disabled", "not allowed")
		ev.Result = "refused"
		l.audit.Record(ctx, ev)
		l.renderSecurity(w, r, ac, http.StatusForbidden, nil, &i18n.Msg{ID: "account.mfa_off_refused"})
		return
	}
	if problem, status := l.passwordProblem(r, ac, "mfa off"); problem != nil {
		l.renderSecurity(w, r, ac, status, nil, problem, "mfaoff")
		return
	}
	err := l.st.DisableMFA(ctx, ac.user.ID)
	if errors.Is(err, store.ErrMFADisableRefused) {
		ev := l.accountEvent(ac, "mfa.disabled", "not allowed")
		ev.Result = "refused"
		l.audit.Record(ctx, ev)
		l.renderSecurity(w, r, ac, http.StatusConflict, nil, &i18n.Msg{ID: "account.mfa_off_refused"})
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "account: turn off mfa", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, l.accountEvent(ac, "mfa.disabled", ""))
	l.notifyUser(r, ac.user, ac.tenant, "mfa_disabled", nil)
	l.cookies.Clear(w, deviceCookie)
	http.Redirect(w, r, "/account/security?done=mfa_disabled", http.StatusSeeOther)
}
