// Package phone owns phone numbers: normalising what a person typed to E.164 and telling, as
// far as the numbering plan can, whether a number can receive text messages.
package phone

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid means the input is not a phone number that can be dialled.
var ErrInvalid = errors.New("this is not a valid phone number; include the country code, for example +1 202 555 0123")

// Normalize parses a number typed by a person (defaultRegion for numbers without a country
// code, e.g. "US") and returns it in E.164 form (+12025550123).
func Normalize(input, defaultRegion string) (string, error) {
	input = strings.TrimSpace(input)
	if input == "" {
		return "", ErrInvalid
	}
	n, err := phonenumbers.Parse(input, defaultRegion)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalid
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}
