// Package secret owns Tessera's secrets at rest: the server's master key file, AES-256-GCM
// sealing of what must be read back (private signing keys, TOTP seeds), and keyed hashing of what
// only needs to be recognised (client secrets, codes, refresh tokens, session ids, device
// cookies).
//
// Every use of the master key gets its own HKDF-SHA256 sub-key ("tessera/seal" for sealing,
// "tessera/hash <purpose>" per hashing purpose), so a hash made for one purpose never matches
// another, and no sub-key reveals the master key or its siblings. These labels and the sealed
// format (version byte 1 || 12-byte nonce || ciphertext+tag) are part of what is stored in the
// database: changing them makes existing rows unreadable.
//
// Keyed hashes are HMAC-SHA256, not password hashes: everything hashed here is a high-entropy
// random value, so one HMAC (about half a microsecond) is as safe as argon2 would be and a
// token request does not pay for a password hash. Each Hasher keeps a pool of keyed HMAC
// states, so Sum costs one allocation (its result) and Equal none.
package secret
