package web

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/tessera-health/tessera/internal/i18n"
)

// spokenText is what a screen reader reads of an HTML fragment: everything but aria-hidden
// parts, without tags.
func spokenText(h string) string {
	h = regexp.MustCompile(`<span aria-hidden="true">[^<]*</span>`).ReplaceAllString(h, "")
	return regexp.MustCompile(`<[^>]+>`).ReplaceAllString(h, "")
}

// visibleText is what the eye sees: everything but the visually hidden parts, without tags.
func visibleText(h string) string {
	h = regexp.MustCompile(`<span class="visually-hidden">[^<]*</span>`).ReplaceAllString(h, "")
	return regexp.MustCompile(`<[^>]+>`).ReplaceAllString(h, "")
}

// TestMaskedAccessibleName: a masked number or address reads as words to a screen reader
// ("phone number ending in 0 1 0 1"), never as "bullet bullet…", in English and Spanish, while
// the eye still sees the dots; printed as text it stays the dotted form.
func TestMaskedAccessibleName(t *testing.T) {
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tag                   language.Tag
		dest, seen, said, key string
	}{
		{language.English, "+12025550101", "We texted a 6-digit code to •••• 0101.", "We texted a 6-digit code to phone number ending in 0 1 0 1.", "mfa.sms_intro"},
		{language.Spanish, "+12025550101", "•••• 0101", "número de teléfono que termina en 0 1 0 1", "mfa.sms_intro"},
		{language.English, "pat@example.org", "We sent a 6-digit code to p•••@example.org.", "We sent a 6-digit code to email address starting with p at example.org.", "mfa.email_intro"},
		{language.Spanish, "pat@example.org", "p•••@example.org", "correo electrónico que empieza por p en example.org", "mfa.email_intro"},
	} {
		loc := cat.For(c.tag)
		m := maskDestination(c.dest)
		h := string(maskedIn(loc, loc.T(c.key, "To", m, "Minutes", 10), m))
		said, seen := spokenText(h), visibleText(h)
		if !strings.Contains(said, c.said) || strings.Contains(said, "•") {
			t.Errorf("%s %s: a screen reader reads %q, want %q and no dots", c.tag, c.dest, said, c.said)
		}
		if !strings.Contains(seen, c.seen) || strings.Contains(seen, "ending in") || strings.Contains(seen, "termina en") {
			t.Errorf("%s %s: the eye sees %q, want %q", c.tag, c.dest, seen, c.seen)
		}
		if c.tag == language.English && c.key == "mfa.sms_intro" && !strings.Contains(said, "ending in") {
			t.Errorf("no \"ending in\" in %q", said)
		}
	}
	// Alone (the account page's list), and as text (an email body).
	en := cat.For(language.English)
	if said := spokenText(string(maskedValue(en, maskDestination("+12025550101")))); said != "phone number ending in 0 1 0 1" {
		t.Errorf("alone: %q", said)
	}
	if got := string(maskedValue(en, "My <laptop>")); got != "My &lt;laptop&gt;" {
		t.Errorf("a passkey's name: %q", got)
	}
	if s := maskDestination("+12025550101").String(); s != "•••• 0101" {
		t.Errorf("as text: %q", s)
	}
	if maskDestination("") != nil {
		t.Error("nothing to mask must be nil (the templates' {{if}})")
	}
	// Markup in the sentence itself is escaped, never trusted.
	m := maskDestination("+12025550101")
	if h := string(maskedIn(en, "<b>"+m.String()+"</b>", m)); strings.Contains(h, "<b>") {
		t.Errorf("the sentence was not escaped: %s", h)
	}
}
