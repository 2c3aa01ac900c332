// Package otp owns the one-time codes sent to a person: by SMS, by voice call and by email, one
// Channel per kind, all behind factor.Factor. A code is six digits from crypto/rand and is stored
// only as a keyed hash (bound to the person and the channel). Each channel has its own lifetime
// (defaults: SMS and voice 10 minutes, email 15 — NIST SP 800-63B caps out-of-band codes at 10);
// several codes may be outstanding and all stay valid until one succeeds, which spends them all
// in one transaction.
//
// Sending is limited against SMS pumping and inbox flooding: a cooldown between two sends to a
// person (default 30 s) and hourly caps per person, per destination (a number may be shared) and
// per client address (defaults 5, 5 and 20). The store counts sends in a table and serialises
// the check-and-record across nodes, so a cap holds exactly; a refusal is
// *store.ErrSendLimited, whose RetryAt says when the page may offer a new code.
//
// Which number or address a code goes to, and how the message is worded, are the caller's: the
// channel takes a destination and a compose function, and hands the message to a
// delivery.Sender.
package otp
