// Package config owns Tessera's settings: their defaults, loading them from a YAML file, the
// TESSERA_* environment and command-line flags (in that order of precedence), and validation with
// messages a person can act on.
//
// Every setting has one name, its YAML key path ("tokens.access_token_ttl"), from which the other
// two are derived: the environment variable (TESSERA_TOKENS_ACCESS_TOKEN_TTL) and the key of the
// flags map that Load takes. The names are read from the yaml tags of Config by reflection, so a
// new setting is a struct field, a default, a validation rule and a line in
// config/tessera.example.yaml — and a test fails if that example drifts from Default().
//
// The YAML file is walked as a yaml.Node tree rather than decoded with Decoder.KnownFields: that
// way an unknown key is reported with its full path, its line and the nearest known key, a bad
// value is reported with our own message instead of a Go type name, and every problem in the
// file, the environment and the flags is reported at once (as a *ValidationError) instead of the
// first one only.
//
// The package holds no secrets: the secret key is named by its file path only, and the database
// password inside database_url is replaced by "xxxxx" by every method that renders a Config
// (String, Redacted, LogValue). Problem messages never echo database_url.
package config
