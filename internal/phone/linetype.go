package phone

import (
	"context"

	"github.com/nyaruka/phonenumbers"
)

// LineType is the kind of line behind a number. The values are stable strings, fit to store
// and to log.
type LineType string

// Line types. The first four decide most numbers; the rest are service numbers that no person
// should register for sign-in codes.
const (
	Mobile            LineType = "mobile"
	FixedLine         LineType = "fixed_line"
	FixedLineOrMobile LineType = "fixed_line_or_mobile" // the numbering plan cannot tell (most of +1)
	VoIP              LineType = "voip"
	TollFree          LineType = "toll_free"
	PremiumRate       LineType = "premium_rate"
	SharedCost        LineType = "shared_cost"
	PersonalNumber    LineType = "personal_number" // a follow-me number (UK 070): forwards anywhere
	Pager             LineType = "pager"
	UAN               LineType = "uan" // a company's universal access number
	Voicemail         LineType = "voicemail"
	Unknown           LineType = "unknown"
)

// fromPlan maps libphonenumber's answer to ours.
func fromPlan(t phonenumbers.PhoneNumberType) LineType {
	switch t {
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE:
		return FixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedLineOrMobile
	case phonenumbers.VOIP:
		return VoIP
	case phonenumbers.TOLL_FREE:
		return TollFree
	case phonenumbers.PREMIUM_RATE:
		return PremiumRate
	case phonenumbers.SHARED_COST:
		return SharedCost
	case phonenumbers.PERSONAL_NUMBER:
		return PersonalNumber
	case phonenumbers.PAGER:
		return Pager
	case phonenumbers.UAN:
		return UAN
	case phonenumbers.VOICEMAIL:
		return Voicemail
	}
	return Unknown
}

// CheckSMS says whether a text may be sent to a line of this type: nil, or the reason for the
// person. Mobile and fixed-line-or-mobile are accepted; so are personal and unknown numbers,
// because the SMS verification itself proves they receive texts. A fixed line gets ErrLandline
// (a voice call may still reach it), VoIP gets ErrVoIP, service numbers ErrNotPersonal.
func CheckSMS(t LineType) error {
	switch t {
	case Mobile, FixedLineOrMobile, PersonalNumber, Unknown:
		return nil
	case FixedLine:
		return ErrLandline
	case VoIP:
		return ErrVoIP
	}
	return ErrNotPersonal
}

// CheckVoice says whether a code may be read to a line of this type by a voice call: every
// line a person answers, landlines included, but not VoIP (NIST) or service numbers.
func CheckVoice(t LineType) error {
	switch t {
	case Mobile, FixedLine, FixedLineOrMobile, PersonalNumber, Unknown:
		return nil
	case VoIP:
		return ErrVoIP
	}
	return ErrNotPersonal
}

// CanReceiveSMS reports whether a text may be sent to a line of this type (CheckSMS == nil).
func CanReceiveSMS(t LineType) bool { return CheckSMS(t) == nil }

// CanReceiveVoice reports whether a code may be read to a line of this type (CheckVoice == nil).
func CanReceiveVoice(t LineType) bool { return CheckVoice(t) == nil }

// LineTypeLookup asks an outside source (a carrier database) what line a number is on. It knows
// what the numbering plan cannot: whether a US number is a landline, and whether a number was
// ported to a VoIP carrier.
type LineTypeLookup interface {
	// LineType returns the line type of an E.164 number, Unknown when the source does not know,
	// or ErrInvalid when the source says the number does not exist.
	LineType(ctx context.Context, e164 string) (LineType, error)
}

// Resolve returns the best known line type of n: the lookup's answer when there is a lookup and
// it knows, else the numbering plan's. On a lookup failure it returns the plan's answer together
// with the error, so the caller may log it and go on (the SMS verification still proves the
// number) or refuse, as the tenant's policy says.
func Resolve(ctx context.Context, n Number, lookup LineTypeLookup) (LineType, error) {
	if lookup == nil {
		return n.LineType, nil
	}
	t, err := lookup.LineType(ctx, n.E164)
	if err != nil {
		return n.LineType, err
	}
	if t == Unknown || t == "" {
		return n.LineType, nil
	}
	return t, nil
}
