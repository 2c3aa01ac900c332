// Package i18n owns the words people read: the message catalogs (English and Spanish, with
// CLDR plural forms through go-i18n) and the choice of language for a request.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var locales embed.FS

// Supported languages, the default first.
var Supported = []language.Tag{language.English, language.Spanish}

// Catalog holds every message in every supported language.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
}

// Load parses the embedded catalogs.
func Load() (*Catalog, error) {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, tag := range Supported {
		if _, err := b.LoadMessageFileFS(locales, "locales/"+tag.String()+".json"); err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
	}
	return &Catalog{bundle: b, matcher: language.NewMatcher(Supported)}, nil
}

// Pick chooses the language for a request from the candidates in order of precedence (each a
// list of BCP 47 tags, e.g. the RP's ui_locales, the person's saved preference, the language
// cookie, Accept-Language): the first candidate list with a supported language wins.
func (c *Catalog) Pick(candidates ...[]string) language.Tag {
	for _, list := range candidates {
		var tags []language.Tag
		for _, s := range list {
			if t, _, err := language.ParseAcceptLanguage(s); err == nil {
				tags = append(tags, t...)
			}
		}
		if len(tags) == 0 {
			continue
		}
		if _, idx, conf := c.matcher.Match(tags...); conf >= language.Low {
			return Supported[idx]
		}
	}
	return language.English
}

// FromRequest is the part of the choice the request itself carries: an explicit ?lang= (the
// language switch), then the language cookie, then Accept-Language.
func FromRequest(r *http.Request) (explicit, cookie, accept []string) {
	if v := r.URL.Query().Get("lang"); v != "" {
		explicit = []string{v}
	}
	if k, err := r.Cookie(CookieName); err == nil && k.Value != "" {
		cookie = []string{k.Value}
	}
	if v := r.Header.Get("Accept-Language"); v != "" {
		accept = []string{v}
	}
	return explicit, cookie, accept
}

// CookieName is the language switch's cookie.
const CookieName = "tessera_lang"

// Localizer speaks one language.
type Localizer struct {
	Tag language.Tag
	l   *goi18n.Localizer
}

// For returns a localizer for tag.
func (c *Catalog) For(tag language.Tag) *Localizer {
	return &Localizer{Tag: tag, l: goi18n.NewLocalizer(c.bundle, tag.String())}
}

// T returns message id, with template data given as key, value pairs.
func (l *Localizer) T(id string, kv ...any) string {
	data := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		data[fmt.Sprint(kv[i])] = kv[i+1]
	}
	s, err := l.l.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return id // a missing key shows as itself; TestCatalogsComplete keeps that from shipping
	}
	return s
}

// N returns the plural form of message id for count ({{.Count}} in the message).
func (l *Localizer) N(id string, count int) string {
	s, err := l.l.Localize(&goi18n.LocalizeConfig{MessageID: id, PluralCount: count,
		TemplateData: map[string]any{"Count": count}})
	if err != nil {
		return id
	}
	return s
}

// M renders a Msg.
func (l *Localizer) M(m *Msg) string {
	if m == nil {
		return ""
	}
	kv := make([]any, 0, 2*len(m.Data))
	for k, v := range m.Data {
		kv = append(kv, k, v)
	}
	return l.T(m.ID, kv...)
}

// HTML marks a translated string that contains no markup of its own as safe to place (it still
// goes through html/template escaping of its data).
func (l *Localizer) HTML(s string) template.HTML { return template.HTML(template.HTMLEscapeString(s)) }

// Msg is a message to show, by id, with its data: handlers pass these, never English text.
type Msg struct {
	ID   string
	Data map[string]any
}

// Keys lists the message ids of one language's catalog (for the completeness test).
func Keys(tag language.Tag) ([]string, error) {
	raw, err := locales.ReadFile("locales/" + tag.String() + ".json")
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out, nil
}

// Tags returns the supported languages as strings (for discovery's ui_locales_supported).
func Tags() []string {
	out := make([]string, len(Supported))
	for i, t := range Supported {
		out[i] = t.String()
	}
	return out
}
