package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
)

// Pages renders the HTML templates, each page inside the shared layout.
type Pages struct {
	t map[string]*template.Template
}

// LoadPages parses every page template with the layout.
func LoadPages(fsys fs.FS) (*Pages, error) {
	p := &Pages{t: map[string]*template.Template{}}
	for _, name := range []string{"login", "consent", "error", "signedout", "demo", "outbox"} {
		t, err := template.ParseFS(fsys, "layout.html", name+".html")
		if err != nil {
			return nil, err
		}
		p.t[name] = t
	}
	return p, nil
}

// PageData is what every page gets; Page holds the page's own values.
type PageData struct {
	Lang  string
	Title string
	Page  any
}

// Render writes page name with status. It renders to a buffer first so a template error becomes
// a clean 500, not half a page.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	if _, ok := data["Lang"]; !ok {
		data["Lang"] = "en"
	}
	var buf bytes.Buffer
	if err := p.t[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		slog.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Error renders the error page with a plain-words message.
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, message string) {
	p.Render(w, r, status, "error", map[string]any{"Title": "We could not sign you in", "Message": message})
}
