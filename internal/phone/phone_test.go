package phone

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+1 202 555 0123", "+12025550123", true},
		{"(202) 555-0123", "+12025550123", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"12", "", false},
		{"not a number", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in, "US")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestParse covers the regions the seeds name: the US (where the plan cannot tell a landline),
// the UK, Germany and Korea, each typed the way a person there would type it.
func TestParse(t *testing.T) {
	tests := map[string]struct {
		in, region string
		want       Number
		sms, voice error
	}{
		"US with country code": {"+1 202 555 0123", "US",
			Number{"+12025550123", "US", FixedLineOrMobile}, nil, nil},
		"US landline-looking number is fixed line or mobile": {"(212) 736-5000", "US",
			Number{"+12127365000", "US", FixedLineOrMobile}, nil, nil},
		"US number typed abroad": {"+1 (212) 736-5000", "DE",
			Number{"+12127365000", "US", FixedLineOrMobile}, nil, nil},
		"US toll free": {"1-800-275-2273", "US",
			Number{"+18002752273", "US", TollFree}, ErrNotPersonal, ErrNotPersonal},
		"US premium rate": {"+1 900 555 0199", "US",
			Number{"+19005550199", "US", PremiumRate}, ErrNotPersonal, ErrNotPersonal},
		"UK landline refused for SMS, fine for voice": {"+44 20 7946 0958", "US",
			Number{"+442079460958", "GB", FixedLine}, ErrLandline, nil},
		"UK landline typed nationally": {"020 7946 0958", "GB",
			Number{"+442079460958", "GB", FixedLine}, ErrLandline, nil},
		"UK landline with 00 prefix": {"0044 20 7946 0958", "DE",
			Number{"+442079460958", "GB", FixedLine}, ErrLandline, nil},
		"UK mobile accepted": {"+44 7400 123456", "US",
			Number{"+447400123456", "GB", Mobile}, nil, nil},
		"UK mobile typed nationally": {"07400 123456", "GB",
			Number{"+447400123456", "GB", Mobile}, nil, nil},
		"UK VoIP refused everywhere": {"+44 56 1234 5678", "GB",
			Number{"+445612345678", "GB", VoIP}, ErrVoIP, ErrVoIP},
		"German landline": {"030 901820", "DE",
			Number{"+4930901820", "DE", FixedLine}, ErrLandline, nil},
		"German mobile": {"0151 23456789", "DE",
			Number{"+4915123456789", "DE", Mobile}, nil, nil},
		"Korean mobile": {"010-1234-5678", "KR",
			Number{"+821012345678", "KR", Mobile}, nil, nil},
		"Korean mobile with country code": {"+82 10-1234-5678", "US",
			Number{"+821012345678", "KR", Mobile}, nil, nil},
		"Korean landline (Seoul)": {"02-312-3456", "KR",
			Number{"+8223123456", "KR", FixedLine}, ErrLandline, nil},
		"non-geographic toll free": {"+800 1234 5678", "US",
			Number{"+80012345678", "", TollFree}, ErrNotPersonal, ErrNotPersonal},
		"region in lower case": {"07400 123456", "gb",
			Number{"+447400123456", "GB", Mobile}, nil, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.in, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q, %q) = %+v, want %+v", tt.in, tt.region, got, tt.want)
			}
			if err := CheckSMS(got.LineType); err != tt.sms {
				t.Errorf("CheckSMS(%s) = %v, want %v", got.LineType, err, tt.sms)
			}
			if err := CheckVoice(got.LineType); err != tt.voice {
				t.Errorf("CheckVoice(%s) = %v, want %v", got.LineType, err, tt.voice)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := map[string]struct{ in, region string }{
		"empty":                   {"", "US"},
		"spaces":                  {"   ", "US"},
		"too short":               {"12", "US"},
		"words":                   {"call me maybe", "US"},
		"national without region": {"020 7946 0958", ""},
		"unassigned UK range":     {"+44 7700 900123", "GB"},
		"unknown region":          {"555 0123", "XX"},
		"absurdly long":           {"+1 202 555 0123 0123 0123 0123 0123 0123 0123 0123 0123 0123 0123", "US"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := Parse(tt.in, tt.region)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q, %q) = %+v, %v; want ErrInvalid", tt.in, tt.region, n, err)
			}
		})
	}
}

// TestLineTypeRules is the policy in one table: which lines get texts and which get calls.
func TestLineTypeRules(t *testing.T) {
	tests := []struct {
		t          LineType
		sms, voice bool
	}{
		{Mobile, true, true},
		{FixedLineOrMobile, true, true},
		{FixedLine, false, true},
		{VoIP, false, false},
		{TollFree, false, false},
		{PremiumRate, false, false},
		{SharedCost, false, false},
		{PersonalNumber, true, true},
		{Pager, false, false},
		{UAN, false, false},
		{Voicemail, false, false},
		{Unknown, true, true},
		{LineType("something new"), false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.t), func(t *testing.T) {
			if got := CanReceiveSMS(tt.t); got != tt.sms {
				t.Errorf("CanReceiveSMS = %v, want %v", got, tt.sms)
			}
			if got := CanReceiveVoice(tt.t); got != tt.voice {
				t.Errorf("CanReceiveVoice = %v, want %v", got, tt.voice)
			}
		})
	}
	// The landline message is the one the seeds ask for, word for word.
	want := "This looks like a landline, which cannot receive texts. Use a mobile number or choose a voice call."
	if err := CheckSMS(FixedLine); err == nil || err.Error() != want {
		t.Errorf("CheckSMS(fixed_line) = %v", err)
	}
	var pe *Error
	if !errors.As(CheckSMS(FixedLine), &pe) || pe.ID != "phone.landline" {
		t.Errorf("the landline refusal has no stable id: %+v", pe)
	}
}

// FuzzParse feeds the parser what people might paste: it must never panic, and whatever it
// accepts must be E.164 and parse again to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"+1 202 555 0123", "020 7946 0958", "010-1234-5678", "+49 (0)30 901820", "tel:+1-202-555-0123", "0044", "+", "１２０２５５５０１２３"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(in, "US")
		if err != nil {
			return
		}
		if n.E164 == "" || n.E164[0] != '+' || len(n.E164) > 16 {
			t.Fatalf("Parse(%q) gave %q, not E.164", in, n.E164)
		}
		again, err := Parse(n.E164, "ZZ")
		if err != nil || again.E164 != n.E164 {
			t.Fatalf("E.164 %q does not parse to itself: %+v, %v", n.E164, again, err)
		}
	})
}
