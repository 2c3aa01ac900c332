package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Error is a phone number Tessera will not use, explained for the person. ID is stable so the
// login pages can show a translation; Msg is the English text.
type Error struct {
	ID  string
	Msg string
}

// Error returns the message for the person.
func (e *Error) Error() string { return e.Msg }

// The reasons a number is refused. Compare with errors.Is.
var (
	// ErrInvalid means the input is not a phone number that can be dialled.
	ErrInvalid = &Error{ID: "phone.invalid",
		Msg: "This is not a valid phone number; include the country code, for example +1 202 555 0123"}
	// ErrLandline refuses SMS to a fixed line; a voice call is still possible.
	ErrLandline = &Error{ID: "phone.landline",
		Msg: "This looks like a landline, which cannot receive texts. Use a mobile number or choose a voice call."}
	// ErrVoIP refuses codes to internet (VoIP) numbers: NIST SP 800-63B §5.1.3.3 says an
	// out-of-band code must reach a specific physical device, which a VoIP number does not prove.
	ErrVoIP = &Error{ID: "phone.voip",
		Msg: "This looks like an internet (VoIP) phone number, which cannot be used for sign-in codes. Use a mobile number or a landline."}
	// ErrNotPersonal refuses service numbers (toll-free, premium rate, shared cost, pagers…):
	// no person answers them, and sending to premium numbers is how SMS pumping fraud pays.
	ErrNotPersonal = &Error{ID: "phone.not_personal",
		Msg: "This number cannot receive sign-in codes. Use your own mobile number."}
)

// Number is a parsed, valid phone number.
type Number struct {
	// E164 is the form Tessera stores and dials: +12025550123.
	E164 string
	// Region is the ISO 3166 region the number belongs to ("US", "GB"), or "" if shared (+800…).
	Region string
	// LineType is what the numbering plan says about the number; a carrier lookup may know better
	// (see Resolve).
	LineType LineType
}

// Parse reads a number typed by a person. defaultRegion (ISO 3166, e.g. "US") applies to numbers
// typed without a country code; "+44 20 …" and "0044 20 …" carry their own. The result is valid
// for its region; anything else is ErrInvalid.
func Parse(input, defaultRegion string) (Number, error) {
	input = strings.TrimSpace(input)
	// The bound keeps a pasted essay from reaching the parser; no dialable number is this long.
	if input == "" || len(input) > 64 {
		return Number{}, ErrInvalid
	}
	n, err := phonenumbers.Parse(input, strings.ToUpper(defaultRegion))
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return Number{}, ErrInvalid
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	if region == phonenumbers.UNKNOWN_REGION || region == "001" { // 001: non-geographic (+800, +882…)
		region = ""
	}
	return Number{
		E164:     phonenumbers.Format(n, phonenumbers.E164),
		Region:   region,
		LineType: fromPlan(phonenumbers.GetNumberType(n)),
	}, nil
}

// Normalize parses a number typed by a person (defaultRegion for numbers without a country
// code, e.g. "US") and returns it in E.164 form (+12025550123).
func Normalize(input, defaultRegion string) (string, error) {
	n, err := Parse(input, defaultRegion)
	if err != nil {
		return "", err
	}
	return n.E164, nil
}

// KnownRegion reports whether region is a two-letter region the numbering plan knows.
func KnownRegion(region string) bool {
	return len(region) == 2 && phonenumbers.GetCountryCodeForRegion(region) != 0
}
