// Package factor owns what every second factor is to the rest of Tessera: a kind, the amr
// values it contributes (RFC 8176), whether it resists phishing, how a challenge begins and how
// a response is checked. It knows nothing of HTTP and nothing of any one factor: each factor
// lives in its own package (totp, otp, backupcode, later webauthn) and asserts
// `var _ factor.Factor = (*T)(nil)`; the registry subpackage builds the one map of them.
//
// Unlike the MFA handlers of the models we learned from, no caller switches on factor names to
// verify an answer: it looks the kind up in the Registry and calls the interface. What differs
// between factors — enrolling an authenticator app, sending a code, printing backup codes — stays
// as methods on the factor's own type, for the page that sets that factor up.
//
// Outcomes are shared sentinel errors (ErrWrong, ErrReplayed) so a wrong answer counts toward
// the lockout the same way whatever the factor; a refused send is *store.ErrSendLimited, whose
// RetryAt the page can show (see RetryAt).
package factor
