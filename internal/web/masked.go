package web

import (
	"html/template"
	"strings"

	"github.com/tessera-health/tessera/internal/i18n"
)

// Masked is a phone number or an email address shown masked: enough to recognise it, never
// all of it. On the page the dots are only for the eye (aria-hidden); a screen reader reads
// words instead of "bullet bullet bullet": "phone number ending in 0 1 0 1", "email address
// starting with p at example.org", in the page's language. Printed as text (an email body, a
// message's data) it is the dotted form.
type Masked struct {
	shown string // •••• 0101, p•••@example.org
	kind  string // "phone", "email", or "" (shown as it is: too short to mask)
	last  string // phone: the last digits
	first string // email: the first character
	host  string // email: the domain
}

// maskDestination masks an address or number: p•••@example.org, •••• 0123. nil for "".
func maskDestination(d string) *Masked {
	if d == "" {
		return nil
	}
	if at := strings.LastIndexByte(d, '@'); at >= 1 {
		return &Masked{shown: maskEmail(d), kind: "email", first: d[:1], host: d[at+1:]}
	}
	if len(d) > 4 {
		last := d[len(d)-4:]
		return &Masked{shown: "•••• " + last, kind: "phone", last: last}
	}
	return &Masked{shown: d}
}

// String is the dotted form.
func (m *Masked) String() string {
	if m == nil {
		return ""
	}
	return m.shown
}

// Spoken is what a screen reader says instead of the dots, in loc's language.
func (m *Masked) Spoken(loc *i18n.Localizer) string {
	switch {
	case m == nil:
		return ""
	case m.kind == "phone":
		// Digit by digit: "0 1 0 1", not "one hundred and one".
		return loc.T("mask.phone", "Last", strings.Join(strings.Split(m.last, ""), " "))
	case m.kind == "email":
		return loc.T("mask.email", "First", m.first, "Domain", m.host)
	}
	return m.shown
}

// html is the masked value for a page: the dots hidden from screen readers, the words hidden
// from the eye.
func (m *Masked) html(loc *i18n.Localizer) string {
	if m == nil || m.kind == "" {
		return template.HTMLEscapeString(m.String())
	}
	return `<span class="masked"><span aria-hidden="true">` + template.HTMLEscapeString(m.shown) +
		`</span><span class="visually-hidden">` + template.HTMLEscapeString(m.Spoken(loc)) + `</span></span>`
}

// maskedIn is the template function that places a translated sentence containing a masked
// value (its data "To") on a page: the sentence escaped, the masked value in it replaced by its
// html. Any other value leaves the sentence as plain escaped text.
func maskedIn(loc *i18n.Localizer, text string, v any) template.HTML {
	esc := template.HTMLEscapeString(text)
	m, ok := v.(*Masked)
	if !ok || m == nil || m.kind == "" {
		return template.HTML(esc)
	}
	return template.HTML(strings.Replace(esc, template.HTMLEscapeString(m.shown), m.html(loc), 1))
}

// maskedValue is the template function for a value on its own: a masked value's html, or any
// other value as escaped text.
func maskedValue(loc *i18n.Localizer, v any) template.HTML {
	if m, ok := v.(*Masked); ok {
		return template.HTML(m.html(loc))
	}
	return template.HTML(template.HTMLEscapeString(toString(v)))
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	}
	return ""
}
