// Package password owns password hashing and the password rules: argon2id with OWASP parameters,
// verification (and upgrade) of legacy bcrypt hashes, a cap on concurrent hashes so a login storm
// queues instead of exhausting memory, and a dummy verification that makes an unknown account
// cost the same as a wrong password.
package password
