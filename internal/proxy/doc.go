// Package proxy owns caregiver (proxy) access: the grants that let one person act for another
// (a parent for a child, an adult child for a parent, a guardian), the invitations a patient
// sends to a caregiver, the named scope sets that limit a grant, and the delegation claims a
// patient-context token carries.
//
// A caregiver always signs in as themselves, with their own password and second factor. In a
// proxy-capable application they then choose whose record to open; the ID token still names
// the caregiver (sub), while the access token names the patient (sub), the caregiver as the
// actor (act.sub, RFC 8693 §4.1), the patient again in a `patient` claim (as SMART App Launch
// does), and only the scopes the grant allows (Effective).
//
// Grants are never edited. They end by revocation (the patient, the caregiver or an
// administrator) or by expiry; either stops refresh and token exchange for that patient and
// makes introspection report the patient-context access tokens inactive at once (the grant id
// is listed in the token revocation list, and the expiry travels in the token).
package proxy
