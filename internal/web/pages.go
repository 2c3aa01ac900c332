package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/store"
)

// Pages renders the HTML templates, each page inside the shared layout, in the person's language.
type Pages struct {
	t       map[string]*template.Template
	catalog *i18n.Catalog
	secure  bool
}

// LoadPages parses every page template with the layout.
func LoadPages(fsys fs.FS, catalog *i18n.Catalog, secure bool) (*Pages, error) {
	p := &Pages{t: map[string]*template.Template{}, catalog: catalog, secure: secure}
	funcs := template.FuncMap{"fieldError": fieldError, "masked": maskedIn, "maskedValue": maskedValue, "scopeText": scopeText,
		"invalid": invalidAttrs, "has": slices.Contains[[]string]}
	for _, name := range []string{"login", "consent", "mfa", "mfa_call", "enroll", "backupcodes", "forgot", "reset", "register", "register_code", "message", "error", "signedout", "demo", "outbox",
		"account", "account_confirm", "account_totp", "account_code", "account_backup", "account_passkey",
		"account_profile", "account_email_code", "account_sessions", "account_activity", "account_apps",
		"proxy_choose", "account_caregivers",
		"admin_members", "admin_invite", "admin_member", "admin_policy", "admin_practices", "admin_clients", "admin_client",
		"admin_secret", "admin_audit", "admin_caregivers"} {
		files := []string{"layout.html", "partials.html", name + ".html"}
		if strings.HasPrefix(name, "account") {
			files = append(files, "account_partials.html") // the console's navigation
		}
		if strings.HasPrefix(name, "admin_") {
			files = append(files, "admin_partials.html") // the console's navigation
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(fsys, files...)
		if err != nil {
			return nil, err
		}
		p.t[name] = t
	}
	return p, nil
}

// Language chooses the language for a request: an explicit switch (?lang=), then the RP's
// ui_locales, then the person's saved preference, then the language cookie, then
// Accept-Language. An explicit switch is remembered in a cookie.
func (p *Pages) Language(w http.ResponseWriter, r *http.Request, uiLocales []string, saved string) *i18n.Localizer {
	explicit, cookie, accept := i18n.FromRequest(r)
	var savedList []string
	if saved != "" {
		savedList = []string{saved}
	}
	tag := p.catalog.Pick(explicit, uiLocales, savedList, cookie, accept)
	if explicit != nil && w != nil {
		Cookies{Secure: p.secure}.Set(w, i18n.CookieName, tag.String(), 365*24*time.Hour)
	}
	return p.catalog.For(tag)
}

// Render writes page name with status. data may carry "UILocales" ([]string) and "UserLocale"
// (string) for the language choice, and "SwitchURL" for the language switch when the page was
// reached by a POST. It renders to a buffer first so a template error becomes a clean 500, not
// half a page.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	ui, _ := data["UILocales"].([]string)
	saved, _ := data["UserLocale"].(string)
	loc := p.Language(w, r, ui, saved)
	data["Lang"] = loc.Tag.String()
	data["Loc"] = loc
	if t, ok := data["TitleID"].(string); ok {
		data["Title"] = loc.T(t)
	}
	summarize(data)
	other := language.Spanish
	if loc.Tag == language.Spanish {
		other = language.English
	}
	data["SwitchLang"] = other.String()
	if _, set := data["SwitchURL"]; !set && r.Method == http.MethodGet {
		u := *r.URL
		q := u.Query()
		q.Set("lang", other.String())
		u.RawQuery = q.Encode()
		data["SwitchURL"] = u.RequestURI()
	} else if s, ok := data["SwitchURL"].(string); ok && s != "" {
		data["SwitchURL"] = s + "&lang=" + url.QueryEscape(other.String())
	}
	var buf bytes.Buffer
	if err := p.t[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		slog.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", loc.Tag.String())
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Error renders the error page with a message from the catalog.
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, messageID string) {
	p.Render(w, r, status, "error", map[string]any{"TitleID": "error.title", "Message": &i18n.Msg{ID: messageID}})
}

// Problem is one entry of a page's error summary: what is wrong, and the id of the field it is
// about ("" when it is about the page as a whole).
type Problem struct {
	Field string
	Msg   *i18n.Msg
}

// summarize fills the error summary of a page: data["Problems"] as the handler listed them, or
// else the one data["Error"] about the field data["ErrorField"] names. data["FieldErrors"] maps
// each field in error to its message, for the message beside the field and aria-describedby.
func summarize(data map[string]any) {
	problems, _ := data["Problems"].([]Problem)
	if problems == nil {
		if m, ok := data["Error"].(*i18n.Msg); ok && m != nil {
			field, _ := data["ErrorField"].(string)
			problems = []Problem{{Field: field, Msg: m}}
		}
	}
	fields := map[string]*i18n.Msg{}
	for _, p := range problems {
		if _, dup := fields[p.Field]; p.Field != "" && !dup {
			fields[p.Field] = p.Msg
		}
	}
	data["Problems"], data["FieldErrors"] = problems, fields
}

// fieldError is what the "fielderror" template shows beside a field in error (nil: nothing).
func fieldError(data map[string]any, field string) map[string]any {
	fields, _ := data["FieldErrors"].(map[string]*i18n.Msg)
	if fields[field] == nil {
		return nil
	}
	return map[string]any{"ID": field + "-error", "Loc": data["Loc"], "Msg": fields[field]}
}

// helpLine is the sentence that tells a person who is stuck where to get help: the tenant's own
// help contact in the withContact message (the contact itself is the practice's words, never
// translated), or the generic message when the tenant has none (nil when generic is "").
func helpLine(t *store.Tenant, withContact, generic string) *i18n.Msg {
	if t != nil && t.HelpContact != "" {
		return &i18n.Msg{ID: withContact, Data: map[string]any{"Contact": t.HelpContact}}
	}
	if generic == "" {
		return nil
	}
	return &i18n.Msg{ID: generic}
}

// Locked renders the locked-account page: what happened, and who can unlock it (the tenant's
// help contact when it has one).
func (p *Pages) Locked(w http.ResponseWriter, r *http.Request, t *store.Tenant, uiLocales []string, userLocale string) {
	p.Render(w, r, http.StatusForbidden, "error", map[string]any{"TitleID": "locked.title",
		"Message": &i18n.Msg{ID: "locked.body"}, "Help": helpLine(t, "locked.help_contact", "locked.help"),
		"UILocales": uiLocales, "UserLocale": userLocale})
}

// codeField is the field a problem on a code page is about: field (the code), or none when the
// problem is that nothing could be sent.
func codeField(m *i18n.Msg, field string) string {
	if strings.HasPrefix(m.ID, "delivery.failed.") || strings.HasPrefix(m.ID, "register.delivery_failed.") {
		return ""
	}
	return field
}

// isWaitNotice reports whether a message is a resend cooldown or cap: said politely
// (role=status), not as an error.
func isWaitNotice(m *i18n.Msg) bool { return m.ID == "mfa.code_wait" || m.ID == "mfa.code_limit" }

// invalidAttrs marks a field in error for assistive technology: aria-invalid, and
// aria-describedby naming its message (the "fielderror" template's id).
func invalidAttrs(data map[string]any, field string) template.HTMLAttr {
	if fieldError(data, field) == nil {
		return ""
	}
	return template.HTMLAttr(` aria-invalid="true" aria-describedby="` + template.HTMLEscapeString(field) + `-error"`)
}
