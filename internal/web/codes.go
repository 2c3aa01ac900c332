package web

import (
	"errors"
	"html"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/factor"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// One-time codes by email, text message and phone call: the second step for people who chose
// one of them, setting one up, and verifying a mobile number that was saved but never verified.

// wired reports whether this node can challenge a factor of kind.
func (l *Login) wired(kind string) bool {
	switch kind {
	case policy.TOTP:
		return l.TOTP != nil
	case policy.Passkey:
		return l.Passkeys != nil
	}
	return l.Codes[kind] != nil
}

// firstWired is the first kind of kinds (the default first) this node can challenge.
func (l *Login) firstWired(kinds []string) string {
	for _, k := range kinds {
		if l.wired(k) {
			return k
		}
	}
	return ""
}

// challengeWith asks for kind: the authenticator page, or a code sent to the factor's number
// or address.
func (l *Login) challengeWith(w http.ResponseWriter, r *http.Request, lc *loginContext, kind string) {
	lc.purpose = "challenge"
	if kind == policy.Passkey && l.Passkeys != nil {
		lc.channel = policy.Passkey
		l.renderChallenge(w, r, lc, http.StatusOK, nil)
		return
	}
	if kind == policy.TOTP || l.Codes[kind] == nil {
		lc.channel = policy.TOTP
		l.renderChallenge(w, r, lc, http.StatusOK, nil)
		return
	}
	f, err := l.activeFactor(r, lc.user.ID, kind)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	lc.channel, lc.factor, lc.dest = kind, f, l.destination(lc, f)
	l.sendCode(w, r, lc, false)
}

// activeFactor is the person's active factor of kind (the default first).
func (l *Login) activeFactor(r *http.Request, userID, kind string) (*store.Factor, error) {
	factors, err := l.st.ActiveFactors(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	for i := range factors {
		if factors[i].Kind == kind {
			return &factors[i], nil
		}
	}
	return nil, store.ErrNotFound
}

// destination is where a factor's codes go: the person's current email address for email (so a
// changed address is followed), the factor's own number for a phone.
func (l *Login) destination(lc *loginContext, f *store.Factor) string {
	return factorDestination(lc.user, f)
}

// factorDestination is destination for a person outside a sign-in.
func factorDestination(u *store.User, f *store.Factor) string {
	if f == nil || f.Kind == policy.Email {
		return u.Email
	}
	return f.Label
}

// sendCode sends a code on lc.channel to lc.dest (unless the cooldown says one just went; then
// the page says when a new one may be asked for) and shows the code page.
func (l *Login) sendCode(w http.ResponseWriter, r *http.Request, lc *loginContext, explicit bool) {
	ctx := r.Context()
	ch := l.Codes[lc.channel].For(lc.tenant)
	loc := l.pages.Language(nil, r, lc.ar.Params.UILocales, lc.user.Locale)
	minutes := int(ch.TTL() / time.Minute)
	err := ch.Send(ctx, lc.user.ID, lc.dest, audit.RequestFrom(ctx).IP, func(code string) delivery.Message {
		return l.compose(lc.channel, lc.tenant.Name, loc, code, minutes)
	})
	event := &store.AuditEvent{TenantID: lc.user.TenantID, Event: "mfa.code_sent", Result: "ok",
		ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID, Detail: lc.channel + " " + lc.purpose}
	var limited *store.ErrSendLimited
	switch {
	case err == nil:
		l.audit.Record(ctx, event)
		l.renderChallenge(w, r, lc, http.StatusOK, nil)
	case errors.As(err, &limited):
		var notice *i18n.Msg
		wait := plainDuration(loc, time.Until(limited.RetryAt))
		switch {
		case limited.Reason != "cooldown":
			event.Result, event.Detail = "limited", lc.channel+" "+limited.Reason
			l.audit.Record(ctx, event)
			notice = &i18n.Msg{ID: "mfa.code_limit", Data: map[string]any{"Wait": wait}}
		case explicit:
			notice = &i18n.Msg{ID: "mfa.code_wait", Data: map[string]any{"Wait": wait}}
		}
		l.renderChallenge(w, r, lc, http.StatusOK, notice)
	default:
		slog.ErrorContext(ctx, "mfa: send code", "channel", lc.channel, "err", err)
		event.Result = "failed"
		l.audit.Record(ctx, event)
		id, _ := delivery.ForPerson(err)
		if !strings.HasPrefix(id, "delivery.failed."+lc.channel) {
			id = "delivery.failed." + lc.channel
		}
		l.renderChallenge(w, r, lc, http.StatusServiceUnavailable, &i18n.Msg{ID: id})
	}
}

// compose words the message that carries a code, in the person's language.
func (l *Login) compose(channel, tenantName string, loc *i18n.Localizer, code string, minutes int) delivery.Message {
	m := delivery.Message{Locale: loc.Tag.String()}
	switch channel {
	case policy.SMS:
		text := loc.T("sms.body", "Code", code, "Minutes", minutes)
		body, err := delivery.SMSBody(tenantName, text, l.Issuer, code)
		if err != nil { // a tenant name with a link in it: never send the link
			body = text
		}
		m.Body = body
	case policy.Voice:
		m.Body = loc.T("voice.body", "Tenant", tenantName, "Code", code)
	default:
		m.Subject, m.Body = loc.T("email.subject"), loc.T("email.body", "Code", code, "Minutes", minutes)
		// The HTML part repeats the text and sets the code large, in digits a person can copy.
		m.HTML = `<!doctype html><html lang="` + html.EscapeString(m.Locale) + `"><body style="font-family:sans-serif;font-size:18px">` +
			`<p style="font-size:32px;letter-spacing:6px;font-weight:bold">` + html.EscapeString(code) + `</p><p>` +
			html.EscapeString(m.Body) + `</p></body></html>`
	}
	return m
}

// resendCode is "Send a new code".
func (l *Login) resendCode(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	if !l.codePage(w, r, lc) {
		return
	}
	l.sendCode(w, r, lc, true)
}

// codePage restores which code page a form came from (channel, purpose, destination) and checks
// the person may use it now; it answers the request itself when not.
func (l *Login) codePage(w http.ResponseWriter, r *http.Request, lc *loginContext) bool {
	lc.channel, lc.purpose = r.PostForm.Get("method"), r.PostForm.Get("purpose")
	if l.Codes[lc.channel] == nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return false
	}
	ok := false
	switch lc.purpose {
	case "verify_phone":
		s, err := l.state(r, lc, false)
		ok = err == nil && authn.Next(s).Kind == authn.StepVerifyPhone && lc.channel == policy.SMS
		lc.dest = lc.user.Phone
	case "enroll":
		ok = l.mayUse(r, lc, lc.channel, "enroll")
		if ok && lc.channel != policy.Email {
			f, err := l.st.FactorByID(r.Context(), lc.user.ID, r.PostForm.Get("factorID"))
			ok = err == nil && !f.Active && f.Kind == lc.channel
			lc.factor = f
		}
		lc.dest = l.destination(lc, lc.factor)
	case "challenge":
		ok = l.mayUse(r, lc, lc.channel, "challenge")
		if ok {
			f, err := l.activeFactor(r, lc.user.ID, lc.channel)
			ok = err == nil
			lc.factor, lc.dest = f, l.destination(lc, f)
		}
	}
	if !ok {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
	}
	return ok
}

// verifyChannelCode checks a code. Setting up a factor, a wrong code is not counted (the person
// is proving a number or address they just typed); at a challenge or when verifying a saved
// number it counts like any wrong code.
func (l *Login) verifyChannelCode(w http.ResponseWriter, r *http.Request, lc *loginContext, kind string) {
	if !l.codePage(w, r, lc) {
		return
	}
	ctx := r.Context()
	ch := l.Codes[lc.channel].For(lc.tenant)
	err := ch.VerifyUser(ctx, lc.user.ID, lc.dest, r.PostForm.Get("code"))
	if err != nil && !errors.Is(err, factor.ErrWrong) {
		slog.ErrorContext(ctx, "mfa: verify code", "channel", kind, "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if err != nil {
		if lc.purpose == "enroll" {
			l.renderChallenge(w, r, lc, http.StatusUnauthorized, &i18n.Msg{ID: "enroll.wrong_code"})
			return
		}
		l.wrongAnswer(w, r, lc, "mfa."+kind, &i18n.Msg{ID: "mfa.wrong"})
		return
	}
	switch lc.purpose {
	case "enroll":
		l.confirmCodeFactor(w, r, lc)
		return
	case "verify_phone":
		if _, err := l.st.PhoneVerified(ctx, lc.user.ID, lc.dest); err != nil {
			l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "phone.verified", Result: "ok",
			ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID})
	default:
		_ = l.st.MarkFactorUsed(ctx, lc.factor.ID)
	}
	if err := l.st.MFASuccess(ctx, lc.user.ID); err != nil {
		slog.WarnContext(ctx, "mfa: reset count", "err", err)
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "mfa." + kind, Result: "ok",
		ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID})
	if r.PostForm.Get("remember") == "1" {
		l.rememberDevice(w, r, lc)
	}
	l.addFactor(w, r, lc, ch.AMR())
}

// confirmCodeFactor turns on the email or phone factor whose code was just entered; that code is
// also this sign-in's second factor.
func (l *Login) confirmCodeFactor(w http.ResponseWriter, r *http.Request, lc *loginContext) {
	ctx := r.Context()
	var err error
	if lc.channel == policy.Email {
		f := &store.Factor{UserID: lc.user.ID, TenantID: lc.user.TenantID, Kind: policy.Email, Label: lc.user.Email}
		if err = l.st.CreateFactor(ctx, f); err == nil {
			err = l.st.ActivateFactor(ctx, lc.user.ID, f.ID)
		}
	} else {
		// The line type the numbering plan gives (a carrier lookup was asked before sending).
		n, _ := phone.Parse(lc.factor.Label, lc.tenant.PhoneRegion)
		_, err = l.st.ConfirmPhoneFactor(ctx, lc.user.ID, lc.factor.ID, string(n.LineType))
	}
	if err != nil {
		slog.ErrorContext(ctx, "mfa: turn on factor", "channel", lc.channel, "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "factor.enrolled", Result: "ok",
		ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID, Detail: lc.channel})
	l.notify(r, lc, "factor", map[string]any{"MethodKind": lc.channel})
	if l.recordFactor(w, r, lc, l.Codes[lc.channel].AMR()) {
		l.afterEnrollment(w, r, lc)
	}
}

// enrollEmail starts setting up email codes as the second factor.
func (l *Login) enrollEmail(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	if l.Codes[policy.Email] == nil || !l.mayUse(r, lc, policy.Email, "enroll") {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	lc.channel, lc.purpose, lc.dest = policy.Email, "enroll", lc.user.Email
	l.sendCode(w, r, lc, false)
}

// enrollPhone starts setting up texts or calls: the number is read with the tenant's region,
// judged by its line type (no texts to a landline, no codes to VoIP or service numbers), kept on
// a pending factor and sent a code.
func (l *Login) enrollPhone(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return
	}
	kind := r.PostForm.Get("kind")
	if (kind != policy.SMS && kind != policy.Voice) || l.Codes[kind] == nil || !l.mayUse(r, lc, kind, "enroll") {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	num, _, err := l.judgeNumber(r, lc.tenant, r.PostForm.Get("phone"), kind)
	if err != nil {
		var pe *phone.Error
		if !errors.As(err, &pe) {
			slog.ErrorContext(r.Context(), "mfa: line type", "err", err)
			pe = phone.ErrInvalid
		}
		l.phoneProblem(w, r, lc, pe)
		return
	}
	f := &store.Factor{UserID: lc.user.ID, TenantID: lc.user.TenantID, Kind: kind, Label: num}
	if err := l.st.CreateFactor(r.Context(), f); err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	lc.channel, lc.purpose, lc.factor, lc.dest = kind, "enroll", f, num
	l.sendCode(w, r, lc, false)
}

// judgeNumber parses a typed number and decides whether kind may go to it. A carrier lookup,
// where configured, is asked for numbers the numbering plan cannot place (most US numbers).
func (l *Login) judgeNumber(r *http.Request, t *store.Tenant, input, kind string) (string, phone.LineType, error) {
	n, err := phone.Parse(input, t.PhoneRegion)
	if err != nil {
		return "", "", err
	}
	lt := n.LineType
	if l.LineTypes != nil {
		if lt, err = phone.Resolve(r.Context(), n, l.LineTypes); err != nil {
			return "", "", err
		}
	}
	check := phone.CheckSMS
	if kind == policy.Voice {
		check = phone.CheckVoice
	}
	if err := check(lt); err != nil {
		return "", "", err
	}
	return n.E164, lt, nil
}

// phoneProblem shows the set-up page again with what is wrong with the number.
func (l *Login) phoneProblem(w http.ResponseWriter, r *http.Request, lc *loginContext, pe *phone.Error) {
	s, _ := l.state(r, lc, false)
	step := authn.Next(s)
	if l.TOTP == nil || !slices.Contains(step.Factors, policy.TOTP) {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	e, err := l.TOTP.Begin(r.Context(), lc.user, lc.tenant.Name)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	l.renderEnroll(w, r, lc, e, step.CanDefer, http.StatusBadRequest, &i18n.Msg{ID: pe.ID})
}
