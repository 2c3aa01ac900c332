package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/policy"
	"github.com/tessera-health/tessera/internal/store"
)

// "Press 1 to confirm": instead of a code read out, the person asks for a call on which they
// press 1 (or 9 if they did not try to sign in). The provider posts the key to a URL carrying a
// one-time token; its signature over that URL is what makes the answer believed, so the mode
// exists only with Twilio (the webhook gateway and the dev outbox cannot sign a callback). The
// browser that asked waits on a page and continues once the approval is recorded; only that
// browser session, for that sign-in, can use it, and only once.

// CallConfirmPath, followed by the token, is where the provider posts the key pressed.
const CallConfirmPath = "/hooks/twilio/confirm/"

// callTTL is how long a call can be answered.
const callTTL = 3 * time.Minute

// callRoutes registers the browser's side of press-1 calls (under /mfa/, same-origin only).
func (l *Login) callRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /mfa/call-confirm", l.callConfirm)
	mux.HandleFunc("POST /mfa/call-check", l.callCheck)
	mux.HandleFunc("GET /mfa/call-status", l.callStatus)
}

// pressOneOffered reports whether the code page for lc may offer a press-1 call.
func (l *Login) pressOneOffered(lc *loginContext) bool {
	return l.Twilio != nil && l.Phones != nil && l.CallTokens != nil && l.Codes[policy.Voice] != nil &&
		lc.channel == policy.Voice && lc.purpose == "challenge"
}

// callForm is what every press-1 form needs: the second-step form checks, and the person's
// voice factor, which they must be allowed to answer with now.
func (l *Login) callForm(w http.ResponseWriter, r *http.Request) (*loginContext, bool) {
	lc, ok := l.stepForm(w, r)
	if !ok {
		return nil, false
	}
	lc.channel, lc.purpose = policy.Voice, "challenge"
	if !l.pressOneOffered(lc) || !l.mayUse(r, lc, policy.Voice, "challenge") {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return nil, false
	}
	f, err := l.activeFactor(r, lc.user.ID, policy.Voice)
	if err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return nil, false
	}
	lc.factor, lc.dest = f, l.destination(lc, f)
	return lc, true
}

// callConfirm places a press-1 call to the person's voice number and shows the waiting page.
func (l *Login) callConfirm(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.callForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	loc := l.pages.Language(nil, r, lc.ar.Params.UILocales, lc.user.Locale)
	token := randomValue()
	c := &store.CallConfirmation{UserID: lc.user.ID, SessionID: lc.se.ID, AuthRequestID: lc.ar.GetID(),
		TokenHash: l.CallTokens.Sum(token), Locale: loc.Tag.String()}
	// The voice channel's hourly caps hold for these calls too; not its cooldown, since a code
	// call went out a moment ago when the page first showed.
	lim := l.Codes[policy.Voice].Limits()
	lim.Cooldown = 0
	event := &store.AuditEvent{TenantID: lc.user.TenantID, Event: "mfa.call_placed", Result: "ok",
		ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID, Detail: "voice press 1"}
	err := l.st.CreateCallConfirmation(ctx, c, lc.dest, audit.RequestFrom(ctx).IP, callTTL, lim)
	var limited *store.ErrSendLimited
	if errors.As(err, &limited) {
		event.Result, event.Detail = "limited", "voice press 1 "+limited.Reason
		l.audit.Record(ctx, event)
		wait := plainDuration(loc, time.Until(limited.RetryAt))
		l.renderChallenge(w, r, lc, http.StatusOK, &i18n.Msg{ID: "mfa.code_limit", Data: map[string]any{"Wait": wait}})
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "mfa: create call confirmation", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	m := l.callMessage(lc.dest, lc.tenant.Name, token, loc)
	if err := l.Phones.Send(ctx, m); err != nil {
		slog.ErrorContext(ctx, "mfa: place press-1 call", "err", err)
		event.Result = "failed"
		l.audit.Record(ctx, event)
		l.renderChallenge(w, r, lc, http.StatusServiceUnavailable, &i18n.Msg{ID: "delivery.failed.voice"})
		return
	}
	l.audit.Record(ctx, event)
	l.renderCallWait(w, r, lc, http.StatusOK, nil)
}

// callMessage is the press-1 call: the prompt in the person's language, and where the key goes.
func (l *Login) callMessage(to, tenantName, token string, loc *i18n.Localizer) delivery.Message {
	return delivery.Message{Channel: delivery.Voice, To: to, Body: loc.T("call.prompt", "Tenant", tenantName),
		ConfirmURL: strings.TrimSuffix(l.Issuer, "/") + CallConfirmPath + token, Locale: loc.Tag.String()}
}

// renderCallWait is the page shown while the phone rings.
func (l *Login) renderCallWait(w http.ResponseWriter, r *http.Request, lc *loginContext, status int, notice *i18n.Msg) {
	data := map[string]any{"TitleID": "call.title", "AuthRequestID": lc.ar.GetID(), "CSRF": l.cookies.CSRFToken(w, r),
		"UILocales": lc.ar.Params.UILocales, "UserLocale": lc.user.Locale, "SwitchURL": "", "To": maskDestination(lc.dest),
		"Help": helpLine(lc.tenant, "mfa.cant_contact", "mfa.cant")}
	if notice != nil {
		data["Notice"] = notice
	}
	l.pages.Render(w, r, status, "mfa_call", data)
}

// callCheck is "I pressed 1 — continue": an approval of this browser session's call for this
// sign-in is spent (once) and counts as the voice factor; otherwise the page says where things
// stand.
func (l *Login) callCheck(w http.ResponseWriter, r *http.Request) {
	lc, ok := l.callForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	approved, err := l.st.ConsumeCallApproval(ctx, lc.se.ID, lc.ar.GetID())
	if err != nil {
		slog.ErrorContext(ctx, "mfa: use call approval", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	if approved {
		_ = l.st.MarkFactorUsed(ctx, lc.factor.ID)
		if err := l.st.MFASuccess(ctx, lc.user.ID); err != nil {
			slog.WarnContext(ctx, "mfa: reset count", "err", err)
		}
		l.audit.Record(ctx, &store.AuditEvent{TenantID: lc.user.TenantID, Event: "mfa.voice", Result: "ok",
			ActorID: lc.user.ID, SubjectID: lc.user.ID, ClientID: lc.client.Row().ID, Detail: "press 1"})
		if r.PostForm.Get("remember") == "1" {
			l.rememberDevice(w, r, lc)
		}
		l.addFactor(w, r, lc, l.Codes[policy.Voice].AMR())
		return
	}
	state, err := l.st.CallConfirmationState(ctx, lc.se.ID, lc.ar.GetID())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		slog.ErrorContext(ctx, "mfa: call state", "err", err)
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	switch state {
	case store.CallPending:
		l.renderCallWait(w, r, lc, http.StatusOK, &i18n.Msg{ID: "call.waiting"})
	case store.CallDenied:
		lc.noCode = true
		l.renderChallenge(w, r, lc, http.StatusUnauthorized, &i18n.Msg{ID: "call.denied"})
	default: // expired, already used, or never asked
		lc.noCode = true
		l.renderChallenge(w, r, lc, http.StatusOK, &i18n.Msg{ID: "call.expired"})
	}
}

// callStatus answers the waiting page's script: {"state": "pending" | "approved" | "denied" |
// "expired" | "consumed"}. It reads only; the sign-in goes on through callCheck.
func (l *Login) callStatus(w http.ResponseWriter, r *http.Request) {
	state := store.CallExpired
	if ar, err := l.op.Storage().AuthRequest(r.Context(), r.URL.Query().Get("authRequestID")); err == nil && !ar.Done() {
		if c, err := l.op.Client(r.Context(), ar.GetClientID()); err == nil {
			if se := l.currentSession(r, c.Row().TenantID); se != nil {
				if s, err := l.st.CallConfirmationState(r.Context(), se.ID, ar.GetID()); err == nil {
					state = s
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]string{"state": state})
}

// CallAnswered takes the key pressed on a press-1 call, posted by the provider to
// CallConfirmPath + token. Only a callback with a valid provider signature over the public URL
// (the issuer's, never the Host header) is believed; anything else is 403 and changes nothing.
// 1 approves the sign-in (the browser continues with callCheck); 9 stops it: it counts as a
// wrong answer toward the lock, is audited (mfa.call_denied) and the person is emailed; any
// other key asks again. The answer is TwiML, which the call speaks.
func (l *Login) CallAnswered(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	params, err := l.Twilio.VerifyCallback(r, strings.TrimSuffix(l.Issuer, "/")+CallConfirmPath+token)
	if err != nil {
		slog.WarnContext(ctx, "twilio confirm: callback refused", "err", err)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	hash := l.CallTokens.Sum(token)
	c, err := l.st.LiveCallConfirmation(ctx, hash)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			slog.ErrorContext(ctx, "twilio confirm: look up", "err", err)
		}
		l.twiml(w, l.Twilio.SayTwiML(l.pages.Language(nil, r, nil, "").T("call.ended"), ""))
		return
	}
	loc := l.pages.Language(nil, r, nil, c.Locale)
	u, uerr := l.st.UserByID(ctx, c.UserID)
	var t *store.Tenant
	if uerr == nil {
		t, uerr = l.st.TenantByID(ctx, u.TenantID)
	}
	if uerr != nil {
		slog.ErrorContext(ctx, "twilio confirm: load person", "err", uerr)
		l.twiml(w, l.Twilio.SayTwiML(loc.T("call.ended"), c.Locale))
		return
	}
	result := map[string]string{"1": store.CallApproved, "9": store.CallDenied}[params.Get("Digits")]
	if result == "" {
		// Nothing or another key: ask again, on the same token.
		m := l.callMessage("", t.Name, token, loc)
		twiml, err := l.Twilio.VoiceTwiML(m)
		if err != nil {
			slog.ErrorContext(ctx, "twilio confirm: ask again", "err", err)
			twiml = l.Twilio.SayTwiML(loc.T("call.ended"), c.Locale)
		}
		l.twiml(w, twiml)
		return
	}
	if _, err := l.st.AnswerCallConfirmation(ctx, hash, result); err != nil {
		// Expired or answered meanwhile (a retried callback, two keys racing): one answer counts.
		if !errors.Is(err, store.ErrNotFound) {
			slog.ErrorContext(ctx, "twilio confirm: record answer", "err", err)
		}
		l.twiml(w, l.Twilio.SayTwiML(loc.T("call.ended"), c.Locale))
		return
	}
	if result == store.CallApproved {
		slog.InfoContext(ctx, "twilio confirm: approved", "user", c.UserID)
		l.twiml(w, l.Twilio.SayTwiML(loc.T("call.thanks"), c.Locale))
		return
	}
	var clientID string
	if ar, err := l.op.Storage().AuthRequest(ctx, c.AuthRequestID); err == nil {
		clientID = ar.GetClientID()
	}
	// The call_denied notice first, then (from countWrong) the lock's, as before.
	l.notifyUser(r, u, t, "call_denied", nil)
	res := l.countWrong(r, u, t, nil, &store.AuditEvent{TenantID: u.TenantID, Event: "mfa.call_denied",
		ActorID: u.ID, SubjectID: u.ID, ClientID: clientID, Detail: "pressed 9"})
	slog.InfoContext(ctx, "twilio confirm: denied", "user", u.ID, "failures", res.Failures)
	l.twiml(w, l.Twilio.SayTwiML(loc.T("call.stopped"), c.Locale))
}

// twiml writes a TwiML answer.
func (l *Login) twiml(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(body))
}
