package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/text/language"

	"github.com/tessera-health/tessera/internal/i18n"
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
	for _, name := range []string{"login", "consent", "mfa", "mfa_call", "enroll", "backupcodes", "forgot", "reset", "register", "register_code", "message", "error", "signedout", "demo", "outbox",
		"account", "account_confirm", "account_totp", "account_code", "account_backup", "account_passkey"} {
		t, err := template.ParseFS(fsys, "layout.html", "partials.html", name+".html")
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
