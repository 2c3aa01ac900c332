// Package password owns password hashing and the password rules: argon2id with OWASP parameters
// in PHC format, verification (and upgrade) of legacy bcrypt hashes, a cap on concurrent hashes
// so a login storm queues instead of exhausting memory, and a dummy verification that makes an
// unknown account cost the same as a wrong password.
//
// One argon2id verification (~25–30 ms of CPU and 19 MiB with the defaults) is a login's whole
// budget, so the semaphore is the memory bound: at most maxConcurrent hashes are in flight, and
// Verify refuses stored hashes that would ask for far more than the configured cost (over
// 256 MiB or 32 passes, or bcrypt above cost 16), whether the row is corrupt or hostile.
// Waiting for a slot ends with the request's context, and an already cancelled request takes
// no slot.
//
// Stored hashes are parsed strictly (fields in PHC order, unsigned decimals, unpadded base64),
// and anything unreadable is an error wrapping ErrMalformed, never a panic (FuzzVerify).
package password
