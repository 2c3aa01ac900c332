package web

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// The changes the account console makes. Each runs only after the fresh check (accountGuarded),
// checks that any factor it names is the signed-in person's own, is audited with the person as
// actor, and is followed by an email notice. A change that needs proof of a new app, number or
// address starts here and finishes in accountTOTPConfirm or accountCode.

// accountActionNames are the changes, each posted to /account/NAME.
var accountActionNames = slices.Concat([]string{"totp", "phone", "mobile", "email", "default", "remove", "backup", "passkey"},
	consoleActions, caregiverActions)

func (l *Login) runAccountAction(w http.ResponseWriter, r *http.Request, ac *accountContext, name string) {
	switch name {
	case "totp":
		l.accountTOTPBegin(w, r, ac)
	case "phone":
		l.accountPhone(w, r, ac)
	case "mobile":
		l.accountMobile(w, r, ac)
	case "email":
		l.accountEmail(w, r, ac)
	case "default":
		l.accountDefault(w, r, ac)
	case "remove":
		l.accountRemove(w, r, ac)
	case "backup":
		l.accountBackup(w, r, ac)
	case "passkey":
		l.accountPasskeyBegin(w, r, ac)
	default:
		if !l.runConsoleAction(w, r, ac, name) && !l.runCaregiverAction(w, r, ac, name) {
			l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		}
	}
}

func (l *Login) accountEvent(ac *accountContext, event, detail string) *store.AuditEvent {
	return &store.AuditEvent{TenantID: ac.tenant.ID, Event: event, Result: "ok", ActorID: ac.user.ID,
		SubjectID: ac.user.ID, ClientID: store.AccountClientID(ac.tenant.ID), Detail: detail}
}

// factorName is a factor kind in plain words, in the person's language.
func (l *Login) factorName(r *http.Request, ac *accountContext, kind string) string {
	return l.pages.Language(nil, r, nil, ac.user.Locale).T("factor.name." + kind)
}

// ownFactor is one of the signed-in person's active factors named by the form; another
// person's id, or a made-up one, is not found.
func (l *Login) ownFactor(w http.ResponseWriter, r *http.Request, ac *accountContext) (*store.Factor, bool) {
	f, err := l.st.FactorByID(r.Context(), ac.user.ID, r.PostForm.Get("factorID"))
	if err != nil || !f.Active || f.UserID != ac.user.ID {
		l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: "account.no_such_factor"})
		return nil, false
	}
	return f, true
}

// ---- authenticator app ----

// accountTOTPBegin shows a new app's QR code: "Add" or "Change authenticator app". The old app
// keeps working until the new one is proved.
func (l *Login) accountTOTPBegin(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	if l.TOTP == nil || !ac.role().Allows(policy.TOTP) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	e, err := l.TOTP.Begin(r.Context(), ac.user, ac.tenant.Name)
	if err != nil {
		slog.ErrorContext(r.Context(), "account: begin app", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.renderAccountTOTP(w, r, ac, e, http.StatusOK, nil)
}

func (l *Login) renderAccountTOTP(w http.ResponseWriter, r *http.Request, ac *accountContext, e *totp.Enrollment, status int, problem *i18n.Msg) {
	data := map[string]any{"TitleID": "account.totp_title", "TenantName": ac.tenant.Name, "UserLocale": ac.user.Locale,
		"CSRF": l.cookies.CSRFToken(w, r), "QR": urlSafe(e.QRPNG), "Key": e.Key, "FactorID": e.FactorID,
		"Change": ac.has(policy.TOTP), "SwitchURL": ""}
	if problem != nil {
		data["Error"], data["ErrorField"] = problem, "code"
	}
	l.pages.Render(w, r, status, "account_totp", data)
}

// accountTOTPConfirm turns the new app on with a code from it; a changed app replaces the old
// one in the same transaction, so the person is never left with neither.
func (l *Login) accountTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok || !l.setupAllowed(w, r, ac) {
		return
	}
	ctx := r.Context()
	f, err := l.st.FactorByID(ctx, ac.user.ID, r.PostForm.Get("factorID"))
	if err != nil || f.Active || f.Kind != policy.TOTP || l.TOTP == nil || f.CreatedAt < l.now().Add(-time.Hour).Unix() {
		l.accountProblem(w, r, http.StatusBadRequest, "account.timeout")
		return
	}
	if err := l.TOTP.Verify(ctx, f, r.PostForm.Get("code")); err != nil {
		if !errors.Is(err, factor.ErrWrong) && !errors.Is(err, factor.ErrReplayed) {
			slog.ErrorContext(ctx, "account: verify new app", "err", err)
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		e, serr := l.TOTP.Show(f, ac.user, ac.tenant.Name)
		if serr != nil {
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		l.renderAccountTOTP(w, r, ac, e, http.StatusUnauthorized, &i18n.Msg{ID: "enroll.wrong"})
		return
	}
	changed := ac.has(policy.TOTP)
	if err := l.st.ActivateReplacing(ctx, ac.user.ID, f.ID); err != nil {
		slog.ErrorContext(ctx, "account: turn on app", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	done, event, notice := "totp_added", "factor.enrolled", "factor"
	if changed {
		done, event, notice = "totp_changed", "factor.changed", "factor_changed"
	}
	l.audit.Record(ctx, l.accountEvent(ac, event, policy.TOTP))
	l.notifyUser(r, ac.user, ac.tenant, notice, map[string]any{"Method": l.factorName(r, ac, policy.TOTP)})
	l.afterAccountChange(w, r, ac, done)
}

// afterAccountChange hands out backup codes with the first factor, once, and otherwise returns
// to the page with a confirmation.
func (l *Login) afterAccountChange(w http.ResponseWriter, r *http.Request, ac *accountContext, done string) {
	ctx := r.Context()
	if l.Backup != nil && len(ac.factors) == 0 {
		if left, err := l.Backup.Left(ctx, ac.user.ID); err == nil && left == 0 {
			l.issueBackupCodes(w, r, ac, done)
			return
		}
	}
	if done == "mobile_verified" {
		http.Redirect(w, r, "/account/profile?done="+done, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account/security?done="+done, http.StatusSeeOther)
}

// ---- codes by text, call and email ----

// accountPhone starts codes by text or call with a number: judged by line type (no texts to a
// landline), kept on a pending factor, sent a code.
func (l *Login) accountPhone(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	kind := r.PostForm.Get("kind")
	if (kind != policy.SMS && kind != policy.Voice) || l.Codes[kind] == nil || !ac.role().Allows(kind) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	num, ok := l.accountNumber(w, r, ac, kind, "phone")
	if !ok {
		return
	}
	f := &store.Factor{UserID: ac.user.ID, TenantID: ac.tenant.ID, Kind: kind, Label: num}
	if err := l.st.CreateFactor(r.Context(), f); err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.sendAndAsk(w, r, ac, kind, "enroll", f.ID, num, false)
}

// accountMobile is "Save & Get Code": the number is saved at once, not yet verified, and a code
// is texted to it. If the person leaves without entering it, the next sign-in asks for it
// (authn's verify-phone step) before anything else.
func (l *Login) accountMobile(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	if l.Codes[policy.SMS] == nil || !ac.role().Allows(policy.SMS) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	num, ok := l.accountNumber(w, r, ac, policy.SMS, "mobile")
	if !ok {
		return
	}
	lt := lineTypeOf(num, ac.tenant)
	if err := l.st.SavePhone(r.Context(), ac.user.ID, num, string(lt)); err != nil {
		slog.ErrorContext(r.Context(), "account: save number", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	ac.user.Phone, ac.user.PhoneVerified = num, false
	l.audit.Record(r.Context(), l.accountEvent(ac, "phone.saved", ""))
	l.notifyUser(r, ac.user, ac.tenant, "phone", map[string]any{"To": maskDestination(num)})
	l.sendAndAsk(w, r, ac, policy.SMS, "verify_phone", "", num, false)
}

// accountNumber reads and judges the number typed in form on ("phone" or "mobile"); a problem
// goes back to the page beside that form.
func (l *Login) accountNumber(w http.ResponseWriter, r *http.Request, ac *accountContext, kind, on string) (string, bool) {
	num, _, err := l.judgeNumber(r, ac.tenant, r.PostForm.Get("phone"), kind)
	if err != nil {
		var pe *phone.Error
		if !errors.As(err, &pe) {
			slog.ErrorContext(r.Context(), "account: line type", "err", err)
			pe = phone.ErrInvalid
		}
		if on == "mobile" { // the mobile number lives on the profile page
			l.renderProfile(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: pe.ID}, on)
		} else {
			l.renderSecurity(w, r, ac, http.StatusBadRequest, nil, &i18n.Msg{ID: pe.ID}, on)
		}
		return "", false
	}
	return num, true
}

// lineTypeOf is what the numbering plan says of a number already judged (kept with the person's
// mobile number; the carrier was asked, where configured, when it was typed).
func lineTypeOf(e164 string, t *store.Tenant) phone.LineType {
	n, err := phone.Parse(e164, t.PhoneRegion)
	if err != nil {
		return ""
	}
	return n.LineType
}

// accountEmail starts codes by email: a code to the person's address.
func (l *Login) accountEmail(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	if l.Codes[policy.Email] == nil || !ac.role().Allows(policy.Email) || ac.user.Email == "" || ac.has(policy.Email) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	l.sendAndAsk(w, r, ac, policy.Email, "enroll", "", ac.user.Email, false)
}

// sendAndAsk sends a code and shows the page that asks for it.
func (l *Login) sendAndAsk(w http.ResponseWriter, r *http.Request, ac *accountContext, kind, purpose, factorID, dest string, explicit bool) {
	notice, problem, status := l.sendAccountCode(r, ac, kind, dest, purpose, explicit)
	l.renderAccountCode(w, r, ac, kind, purpose, factorID, dest, status, notice, problem)
}

func (l *Login) renderAccountCode(w http.ResponseWriter, r *http.Request, ac *accountContext, kind, purpose, factorID, dest string, status int, notice, problem *i18n.Msg) {
	data := map[string]any{"TitleID": "mfa." + kind + "_title", "TenantName": ac.tenant.Name, "UserLocale": ac.user.Locale,
		"CSRF": l.cookies.CSRFToken(w, r), "Channel": kind, "Purpose": purpose, "FactorID": factorID,
		"To": maskDestination(dest), "Minutes": int(l.Codes[kind].For(ac.tenant).TTL() / time.Minute), "SwitchURL": ""}
	if purpose == "verify_phone" {
		data["TitleID"] = "mfa.verify_phone_title"
	}
	if notice != nil {
		data["Notice"] = notice
	}
	if problem != nil {
		data["Error"], data["ErrorField"] = problem, codeField(problem, "code")
	}
	l.pages.Render(w, r, status, "account_code", data)
}

// codeTarget restores which code page a form came from: the channel, purpose, pending factor
// (phone) and destination, all checked against the signed-in person.
func (l *Login) codeTarget(w http.ResponseWriter, r *http.Request, ac *accountContext) (kind, purpose, dest string, f *store.Factor, ok bool) {
	kind, purpose = r.PostForm.Get("method"), r.PostForm.Get("purpose")
	switch {
	case l.Codes[kind] == nil || !ac.role().Allows(kind):
	case purpose == "verify_phone" && kind == policy.SMS && ac.user.Phone != "" && !ac.user.PhoneVerified:
		return kind, purpose, ac.user.Phone, nil, true
	case purpose == "enroll" && kind == policy.Email && ac.user.Email != "" && !ac.has(policy.Email):
		return kind, purpose, ac.user.Email, nil, true
	case purpose == "enroll" && (kind == policy.SMS || kind == policy.Voice):
		pf, err := l.st.FactorByID(r.Context(), ac.user.ID, r.PostForm.Get("factorID"))
		if err == nil && !pf.Active && pf.Kind == kind && pf.CreatedAt >= l.now().Add(-time.Hour).Unix() {
			return kind, purpose, pf.Label, pf, true
		}
	}
	l.accountProblem(w, r, http.StatusBadRequest, "account.timeout")
	return "", "", "", nil, false
}

// accountCodeResend is "Send a new code" on a code page.
func (l *Login) accountCodeResend(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok || !l.setupAllowed(w, r, ac) {
		return
	}
	kind, purpose, dest, f, ok := l.codeTarget(w, r, ac)
	if !ok {
		return
	}
	id := ""
	if f != nil {
		id = f.ID
	}
	l.sendAndAsk(w, r, ac, kind, purpose, id, dest, true)
}

// accountCode checks the code sent to a new number or address and turns it on. A wrong code is
// not counted toward the lock: the person already confirmed it is them, and is proving a number
// they just typed.
func (l *Login) accountCode(w http.ResponseWriter, r *http.Request) {
	ac, ok := l.accountForm(w, r)
	if !ok || !l.setupAllowed(w, r, ac) {
		return
	}
	ctx := r.Context()
	kind, purpose, dest, f, ok := l.codeTarget(w, r, ac)
	if !ok {
		return
	}
	factorID := ""
	if f != nil {
		factorID = f.ID
	}
	if err := l.Codes[kind].For(ac.tenant).VerifyUser(ctx, ac.user.ID, dest, r.PostForm.Get("code")); err != nil {
		if !errors.Is(err, factor.ErrWrong) {
			slog.ErrorContext(ctx, "account: verify code", "err", err)
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		l.renderAccountCode(w, r, ac, kind, purpose, factorID, dest, http.StatusUnauthorized, nil, &i18n.Msg{ID: "enroll.wrong_code"})
		return
	}
	var (
		err          error
		done, notice = "", "factor"
		replaced     = ac.has(kind)
	)
	switch {
	case purpose == "verify_phone":
		_, err = l.st.PhoneVerified(ctx, ac.user.ID, dest)
		done, notice = "mobile_verified", ""
	case kind == policy.Email:
		nf := &store.Factor{UserID: ac.user.ID, TenantID: ac.tenant.ID, Kind: policy.Email, Label: ac.user.Email}
		if err = l.st.CreateFactor(ctx, nf); err == nil {
			err = l.st.ActivateFactor(ctx, ac.user.ID, nf.ID)
		}
		done = "email_added"
	default:
		_, err = l.st.ConfirmPhoneFactor(ctx, ac.user.ID, f.ID, string(lineTypeOf(f.Label, ac.tenant)))
		done = "phone_added"
		if replaced {
			notice = "factor_changed"
		}
	}
	if err != nil {
		slog.ErrorContext(ctx, "account: turn on", "kind", kind, "purpose", purpose, "err", err)
		l.accountProblem(w, r, http.StatusConflict, "account.timeout")
		return
	}
	if purpose == "verify_phone" {
		l.audit.Record(ctx, l.accountEvent(ac, "phone.verified", ""))
	} else {
		event := "factor.enrolled"
		if replaced {
			event = "factor.changed"
		}
		l.audit.Record(ctx, l.accountEvent(ac, event, kind))
	}
	if notice != "" {
		l.notifyUser(r, ac.user, ac.tenant, notice, map[string]any{"Method": l.factorName(r, ac, kind)})
	}
	l.afterAccountChange(w, r, ac, done)
}

// ---- default, remove ----

// accountDefault makes one of the person's factors the one the sign-in asks first.
func (l *Login) accountDefault(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	f, ok := l.ownFactor(w, r, ac)
	if !ok {
		return
	}
	if err := l.st.SetDefaultFactor(r.Context(), ac.user.ID, f.ID); err != nil {
		slog.ErrorContext(r.Context(), "account: set default", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(r.Context(), l.accountEvent(ac, "factor.default", f.Kind))
	l.notifyUser(r, ac.user, ac.tenant, "default", map[string]any{"Method": l.factorName(r, ac, f.Kind)})
	http.Redirect(w, r, "/account/security?done=default", http.StatusSeeOther)
}

// mustKeep is what a person may not go without: where the role or the tenant requires a second
// factor, at least one factor the role allows (backup codes are not one: they back one up).
func mustKeep(ac *accountContext) []string {
	role := ac.role()
	if !role.MFARequired && ac.tenant.MFAMode != store.MFARequired {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(role.Factors), func(k string) bool { return k == policy.BackupCode })
}

// accountRemove removes one of the person's factors, but never the last one policy requires
// (checked in the same transaction as the delete).
func (l *Login) accountRemove(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	f, ok := l.ownFactor(w, r, ac)
	if !ok {
		return
	}
	err := l.st.RemoveFactor(r.Context(), ac.user.ID, f.ID, mustKeep(ac))
	if errors.Is(err, store.ErrLastFactor) {
		ev := l.accountEvent(ac, "factor.removed", f.Kind+" last required")
		ev.Result = "refused"
		l.audit.Record(r.Context(), ev)
		l.renderSecurity(w, r, ac, http.StatusConflict, nil, &i18n.Msg{ID: "account.remove_last", Data: map[string]any{"Tenant": ac.tenant.Name}})
		return
	}
	if err != nil {
		slog.ErrorContext(r.Context(), "account: remove", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(r.Context(), l.accountEvent(ac, "factor.removed", f.Kind))
	l.notifyUser(r, ac.user, ac.tenant, "factor_removed", map[string]any{"Method": l.factorName(r, ac, f.Kind)})
	http.Redirect(w, r, "/account/security?done=removed", http.StatusSeeOther)
}

// ---- backup codes ----

// accountBackup replaces the whole set of backup codes and shows the new one, once.
func (l *Login) accountBackup(w http.ResponseWriter, r *http.Request, ac *accountContext) {
	if l.Backup == nil || len(ac.factors) == 0 {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	l.issueBackupCodes(w, r, ac, "")
}

func (l *Login) issueBackupCodes(w http.ResponseWriter, r *http.Request, ac *accountContext, done string) {
	ctx := r.Context()
	codes, err := l.Backup.Generate(ctx, ac.user.ID)
	if err != nil {
		slog.ErrorContext(ctx, "account: backup codes", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	ev := l.accountEvent(ac, "factor.backup_codes", "")
	ev.Result = "issued"
	l.audit.Record(ctx, ev)
	if done == "" {
		l.notifyUser(r, ac.user, ac.tenant, "backup_codes", nil)
	}
	back := "/account/security"
	if done != "" {
		back += "?done=" + done
	}
	l.pages.Render(w, r, http.StatusOK, "account_backup", map[string]any{"TitleID": "backup.title",
		"Codes": codes, "Download": downloadURL(codes), "Back": back, "UserLocale": ac.user.Locale, "SwitchURL": ""})
}
