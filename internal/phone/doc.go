// Package phone owns phone numbers: normalising what a person typed to E.164, and telling, as
// far as the numbering plan (libphonenumber via nyaruka/phonenumbers) or a carrier lookup can,
// what kind of line a number is and so whether it may receive a code by text or by voice call.
//
// The numbering plan cannot tell most US numbers apart (they are FIXED_LINE_OR_MOBILE), so the
// rule is: refuse what the plan or the lookup calls a fixed line (for SMS) or VoIP (for both, per
// NIST SP 800-63B, which forbids out-of-band codes to numbers not bound to a device), and let the
// SMS verification itself prove the rest. Tenants that want to refuse US landlines before sending
// plug in a LineTypeLookup (TwilioLookup, or their own).
//
// Every refusal is an *Error with a stable ID (for translation) and a message written for the
// person; nothing here knows about HTTP pages or storage.
package phone
