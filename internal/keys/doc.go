// Package keys owns token-signing keys: generating them, sealing the private halves before they
// reach the database, choosing the key that signs now, rotating, and publishing the JWKS.
//
// Every node reads the same keys from the database, so any node verifies what any other signed.
// A rotated key becomes the signer only after a propagation delay (the cache TTL), so by the time
// any node signs with it every node already publishes it; a retired key stays in the JWKS for a
// grace period that outlives the tokens it signed.
package keys
