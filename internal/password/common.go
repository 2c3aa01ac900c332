package password

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

//go:generate go run ./internal/gen -o common.txt

// commonText is the shipped list of common and breached passwords: NFKC, lower case, at least
// 8 characters, sorted bytewise, one per line, after a header of "#" lines. It comes from
// zxcvbn's "passwords" frequency list (MIT licence; see the file's header and
// internal/gen, which writes it).
//
//go:embed common.txt
var commonText string

// commonList is the list ready to search: the embedded text itself (no copy) and where each
// line starts and ends. About 11,600 entries: ~110 KB of read-only text plus ~93 KB of offsets.
type commonList struct {
	text       string
	start, end []uint32
}

// common loads the list once, on the first check.
var common = sync.OnceValue(loadCommon)

func loadCommon() *commonList {
	lines := strings.Count(commonText, "\n") + 1
	l := &commonList{text: commonText, start: make([]uint32, 0, lines), end: make([]uint32, 0, lines)}
	for pos := 0; pos < len(l.text); {
		n := strings.IndexByte(l.text[pos:], '\n')
		if n < 0 {
			n = len(l.text) - pos
		}
		if line := l.text[pos : pos+n]; line != "" && line[0] != '#' {
			l.start = append(l.start, uint32(pos))
			l.end = append(l.end, uint32(pos+n))
		}
		pos += n + 1
	}
	return l
}

func (l *commonList) len() int        { return len(l.start) }
func (l *commonList) at(i int) string { return l.text[l.start[i]:l.end[i]] }

// contains reports whether the normalised password s is on the list (a binary search).
func (l *commonList) contains(s string) bool {
	i := sort.Search(l.len(), func(i int) bool { return l.at(i) >= s })
	return i < l.len() && l.at(i) == s
}

// normalize is how a password is compared with the list: NFKC (so fullwidth and other
// compatibility forms read as their plain letters), then lower case.
func normalize(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}

// ErrCommon means a new password is on the list of common and breached passwords, or is made
// from the person's own email address, name or organisation. ErrPersonal wraps it for the
// second case, so that errors.Is(err, ErrCommon) covers both.
var (
	ErrCommon   = errors.New("the password is too easy to guess")
	ErrPersonal = fmt.Errorf("%w: it is made from the email address, a name or the organisation's name", ErrCommon)
)

// CheckNew applies CheckPolicy and then NIST SP 800-63B §5.1.1.2's check of a password being
// chosen now (a reset, a registration, an account an administrator creates): it must not be on
// the shipped list of common and breached passwords, compared case-insensitively after NFKC
// normalisation, nor be made from any of context — the person's email address (its local part
// counts too), name or the tenant's name — with nothing added but digits, punctuation or spaces
// ("rosa.diaz@example.org", "Rosa Diaz 1985!", "acmeclinic2024"). Accents are ignored in that
// comparison. Empty context values are skipped.
//
// It never applies to a sign-in: passwords chosen before the list keep working.
func CheckNew(password string, minLen int, context ...string) error {
	if err := CheckPolicy(password, minLen); err != nil {
		return err
	}
	n := normalize(password)
	if common().contains(n) {
		return fmt.Errorf("%w: it is on a list of common and breached passwords", ErrCommon)
	}
	if madeFrom(n, context) {
		return ErrPersonal
	}
	return nil
}

// madeFrom reports whether the normalised password n is one of context's values (or an email's
// local part, or one long word of a name) with only digits, punctuation, symbols or spaces
// around it.
func madeFrom(n string, context []string) bool {
	core := squash(strings.TrimFunc(n, filler))
	if core == "" {
		return false
	}
	for _, c := range context {
		c = normalize(strings.TrimSpace(c))
		if c == "" {
			continue
		}
		forms := []string{c}
		if at := strings.LastIndexByte(c, '@'); at > 0 {
			forms = append(forms, c[:at])
		}
		for _, w := range strings.FieldsFunc(c, func(r rune) bool { return filler(r) || r == '@' }) {
			if utf8.RuneCountInString(w) >= 4 {
				forms = append(forms, w)
			}
		}
		for _, f := range forms {
			if f = squash(strings.TrimFunc(f, filler)); f != "" && f == core {
				return true
			}
		}
	}
	return false
}

// filler is what people put around a name to pass a rule: digits, punctuation, symbols and
// spaces.
func filler(r rune) bool {
	return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
}

// squash drops accents, spaces and punctuation, so that "Rosa Díaz", "rosa.diaz" and "rosadiaz"
// compare equal.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) || unicode.IsSpace(r) || unicode.IsPunct(r) {
			return -1
		}
		return r
	}, norm.NFD.String(s))
}
