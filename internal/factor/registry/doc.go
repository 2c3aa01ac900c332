// Package registry owns the one place where Tessera's factors are put together: New builds the
// factor.Registry (kind → factor.Factor) from the store, the sealing box and the senders. Adding
// a factor means writing its package and adding its line here; no caller switches on kinds.
//
// It is a package of its own because the factor packages import package factor: the map cannot
// be built there without an import cycle.
//
// The hashing purposes ("backup-code", "otp-code") are part of what is stored: changing one makes
// every stored code unrecognisable. They are the ones the server used before this package existed.
package registry
