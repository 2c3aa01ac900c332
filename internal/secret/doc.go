// Package secret owns Tessera's secrets at rest: the server's master key file, AES-256-GCM
// sealing of what must be read back (private signing keys, TOTP seeds), and keyed hashing of what
// only needs to be recognised (client secrets, codes, refresh tokens, session cookies). Every
// purpose gets its own HKDF-derived sub-key, so a hash made for one purpose never matches another.
package secret
