package web

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/store"
)

// The patient chooser: after a person who may act for others (caregiver grants in force) has
// signed in to a proxy-capable application, they choose whose record to open: "Myself" or one
// patient. The choice is stored on the auth request before the code is issued; the tokens then
// carry it (internal/oidcop/proxy.go). Applications not marked proxy-capable never see it, and
// neither does prompt=none (no page may be shown): both get the person themselves.

func (l *Login) proxyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login/patient", l.chooserShow)
	mux.HandleFunc("POST /login/patient", l.chooserSubmit)
}

// chooserNeeded reports whether the completed request ar should go through the chooser.
func (l *Login) chooserNeeded(r *http.Request, ar *oidcop.AuthRequest, userID string) bool {
	if ar.HasPrompt(oidc.PromptNone) {
		return false
	}
	c, err := l.op.Client(r.Context(), ar.GetClientID())
	if err != nil || !c.Row().Proxy {
		return false
	}
	gs, err := l.st.ProxyGrantsOfCaregiver(r.Context(), userID)
	if err != nil {
		slog.ErrorContext(r.Context(), "chooser: grants", "err", err)
		return false // the person signs in as themselves: never a patient context by accident
	}
	return len(gs) > 0
}

func chooserURL(id string) string { return "/login/patient?authRequestID=" + url.QueryEscape(id) }

// chooserLoad finds the completed request, bound to this browser's session, whose code has not
// been issued yet.
func (l *Login) chooserLoad(w http.ResponseWriter, r *http.Request, id string) (*oidcop.AuthRequest, *store.Session, bool) {
	ar, err := l.op.Storage().AuthRequest(r.Context(), id)
	se := l.browserSession(r)
	if err != nil || !ar.Done() || ar.Row.CodeHash != nil || se == nil || se.ID != ar.Row.SessionID {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return nil, nil, false
	}
	return ar, se, true
}

// patientChoice is one radio button of the chooser.
type patientChoice struct {
	GrantID, Name, Access string
}

func (l *Login) chooserShow(w http.ResponseWriter, r *http.Request) {
	ar, se, ok := l.chooserLoad(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	l.renderChooser(w, r, http.StatusOK, ar, se, false)
}

func (l *Login) renderChooser(w http.ResponseWriter, r *http.Request, status int, ar *oidcop.AuthRequest, se *store.Session, problem bool) {
	ctx := r.Context()
	gs, err := l.st.ProxyGrantsOfCaregiver(ctx, se.UserID)
	if err != nil {
		l.pages.Error(w, r, http.StatusServiceUnavailable, "error.unavailable")
		return
	}
	var choices []patientChoice
	for _, g := range gs {
		u, err := l.st.UserByID(ctx, g.PatientID)
		if err != nil || u.Disabled {
			continue
		}
		choices = append(choices, patientChoice{GrantID: g.ID, Name: displayName(u), Access: "proxy.access_" + g.Access})
	}
	appName := ""
	if c, err := l.op.Client(ctx, ar.GetClientID()); err == nil {
		appName = c.Row().Name
	}
	var me string
	if u, err := l.st.UserByID(ctx, se.UserID); err == nil {
		me = displayName(u)
	}
	data := map[string]any{"TitleID": "proxy.choose_title", "AppName": appName, "Me": me, "Patients": choices,
		"AuthRequestID": ar.GetID(), "CSRF": l.cookies.CSRFToken(w, r), "UILocales": ar.Params.UILocales}
	if problem {
		data["Problems"] = []Problem{{Field: "choice-self", Msg: &i18n.Msg{ID: "proxy.choose_missing"}}}
	}
	l.pages.Render(w, r, status, "proxy_choose", data)
}

func (l *Login) chooserSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.form")
		return
	}
	ar, se, ok := l.chooserLoad(w, r, r.PostForm.Get("authRequestID"))
	if !ok {
		return
	}
	if !l.cookies.CheckCSRF(r) {
		l.pages.Error(w, r, http.StatusForbidden, "error.form")
		return
	}
	ctx := r.Context()
	choice := r.PostForm.Get("choice")
	grantID, subject := "", se.UserID
	switch choice {
	case "":
		l.renderChooser(w, r, http.StatusBadRequest, ar, se, true)
		return
	case "self":
	default:
		g, err := l.st.ActiveProxyGrant(ctx, choice)
		if err != nil || g.CaregiverID != se.UserID {
			l.renderChooser(w, r, http.StatusBadRequest, ar, se, true)
			return
		}
		grantID, subject = g.ID, g.PatientID
	}
	if err := l.st.SetAuthRequestProxy(ctx, ar.GetID(), grantID); err != nil {
		l.pages.Error(w, r, http.StatusBadRequest, "error.expired")
		return
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "proxy.chosen", Result: "ok",
		ActorID: se.UserID, SubjectID: subject, ClientID: ar.GetClientID(), Detail: "grant=" + grantID})
	http.Redirect(w, r, l.op.CallbackURL(ar.GetID()), http.StatusSeeOther)
}

// displayName is how a person is named to someone else: their name, else their email.
func displayName(u *store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}
