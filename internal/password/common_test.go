package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckNew(t *testing.T) {
	ctx := []string{"Rosa.Diaz@example.org", "Rosa Díaz", "Acme Clinic"}
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"the most common one", "password", ErrCommon},
		{"capitalised with a digit", "Password1", ErrCommon},
		{"keyboard and digits", "qwerty123", ErrCommon},
		{"a phrase everybody uses", "iloveyou", ErrCommon},
		{"with digits", "password123", ErrCommon},
		{"upper case", "ILOVEYOU", ErrCommon},
		{"NFKC: fullwidth letters", "ｐａｓｓｗｏｒｄ", ErrCommon},
		{"NFKC: fullwidth digits", "qwerty１２３", ErrCommon},
		{"a passphrase", "correct horse battery staple", nil},
		{"unrelated words", "lantern oboe pickle", nil},
		{"long and odd", "Tr0mb0ne-Sunset-Quiche", nil},
		{"still too short first", "passwor", ErrTooShort},
		{"still too long first", strings.Repeat("a", MaxLen+1), ErrTooLong},
		{"still blank first", "          ", ErrBlank},
		{"the email address", "rosa.diaz@example.org", ErrPersonal},
		{"the email address in capitals", "ROSA.DIAZ@EXAMPLE.ORG", ErrPersonal},
		{"the email's local part", "rosa.diaz", ErrPersonal},
		{"the local part with digits", "rosa.diaz2024", ErrPersonal},
		{"the local part run together", "rosadiaz!!", ErrPersonal},
		{"the name", "Rosa Díaz", ErrPersonal},
		{"the name without accents and with a year", "rosa diaz 1985", ErrPersonal},
		{"the family name and digits", "Diaz12345", ErrPersonal},
		{"the email's domain word", "example2024", ErrPersonal},
		{"the tenant name", "Acme Clinic", ErrPersonal},
		{"the tenant name with digits", "acmeclinic1!", ErrPersonal},
		{"a name inside real words is fine", "rosa likes long walks", nil},
		{"digits alone are not a name", "58209174631", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNew(tt.pw, 8, ctx...)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("CheckNew(%q) = %v, want %v", tt.pw, err, tt.want)
			}
			if tt.want == ErrCommon && errors.Is(err, ErrPersonal) {
				t.Errorf("CheckNew(%q) = %v, want the list's error", tt.pw, err)
			}
			if err != nil && strings.Contains(err.Error(), tt.pw) && !strings.Contains("the password", tt.pw) && strings.TrimSpace(tt.pw) != "" {
				t.Errorf("the message repeats the password: %v", err)
			}
		})
	}
	// Without context only the list applies; empty values are skipped.
	if err := CheckNew("rosa.diaz@example.org", 8, "", "  "); err != nil {
		t.Errorf("CheckNew without context = %v", err)
	}
	if !errors.Is(ErrPersonal, ErrCommon) {
		t.Error("ErrPersonal must wrap ErrCommon")
	}
}

// TestCommonList checks the shipped file: big enough, each entry normalised as CheckNew
// normalises, long enough to matter, sorted and unique (the binary search depends on it).
func TestCommonList(t *testing.T) {
	l := common()
	if l.len() < 10000 {
		t.Fatalf("the list has %d entries, want at least 10,000", l.len())
	}
	for i := range l.len() {
		w := l.at(i)
		if w != normalize(w) || utf8.RuneCountInString(w) < 8 || strings.TrimSpace(w) != w {
			t.Errorf("entry %d %q is not normalised or too short", i, w)
		}
		if i > 0 && l.at(i-1) >= w {
			t.Fatalf("entries %d and %d are not sorted and unique: %q, %q", i-1, i, l.at(i-1), w)
		}
	}
	for _, w := range []string{l.at(0), l.at(l.len() - 1), l.at(l.len() / 2)} {
		if !l.contains(w) {
			t.Errorf("contains(%q) = false", w)
		}
	}
	for _, w := range []string{"", "!", "~~~~~~~~~~~~~", "zzzzzzzzzzzzzzzzzzzz"} {
		if l.contains(w) {
			t.Errorf("contains(%q) = true", w)
		}
	}
	if !strings.Contains(commonText, "Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.") {
		t.Error("the list lost its licence notice")
	}
}

func BenchmarkCheckNew(b *testing.B) {
	common() // the one-time load is not what a request pays
	for _, bc := range []struct{ name, pw string }{
		{"common", "Password123"},
		{"accepted", "correct horse battery staple"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CheckNew(bc.pw, 8, "rosa.diaz@example.org", "Rosa Díaz", "Acme Clinic")
			}
		})
	}
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			loadCommon()
		}
	})
}
