// Package totp owns the authenticator-app factor (RFC 6238 through github.com/pquerna/otp):
// SHA1, 6 digits, 30-second steps — what every authenticator app accepts — with one step of
// clock skew either way, and each code accepted at most once.
//
// Enrollment creates a pending factor whose secret is sealed with secret.Box, bound to the row
// id as associated data (a sealed secret copied to another row does not open). The person gets
// the otpauth:// URL, the key in groups of four, and a QR code drawn here as PNG bytes — no
// outside service ever sees the secret. The factor becomes active only when a code from it is
// entered (Confirm). An authenticator moved from another system (`tessera user import`) is
// parsed by ParseSecret and sealed the same way by Imported, active from the start.
//
// Replay: the store keeps the last accepted time step per factor and accepts a code only for a
// strictly later step, in one conditional UPDATE, so the same code typed on two nodes at once
// is accepted once, and an older code is refused after a newer one. The clock is injectable.
package totp
