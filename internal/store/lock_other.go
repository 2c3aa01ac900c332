//go:build !unix

package store

// lockFile is a no-op where advisory file locks are not available; run `tessera migrate` once
// before starting several processes on one SQLite file there.
func lockFile(string) (func(), error) { return func() {}, nil }
