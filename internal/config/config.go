package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting of a Tessera node. The yaml tags are the key paths used in the file,
// the environment (TESSERA_ + upper-cased path, "." → "_") and the flags map of Load.
type Config struct {
	// Addr is the host:port the HTTP server listens on.
	Addr string `yaml:"addr"`
	// Issuer is the OIDC issuer URL; tokens carry it exactly as written.
	Issuer string `yaml:"issuer"`
	// DatabaseURL is sqlite:PATH, sqlite::memory:, postgres://… or postgresql://….
	// It may hold a password: render it only through DatabaseDriver or the redacting methods.
	DatabaseURL string `yaml:"database_url"`
	// SecretKeyFile is the path of the AES-256 key that seals secrets at rest.
	SecretKeyFile string `yaml:"secret_key_file"`
	// TrustedProxies are the CIDRs (or bare IPs) whose X-Forwarded-For is believed.
	// Use TrustedProxyNets for the parsed form.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Demo seeds a demo tenant, client and users. It implies Dev.
	Demo bool `yaml:"demo"`
	// Dev turns on developer conveniences such as the dev outbox; only for a loopback http issuer.
	Dev bool `yaml:"dev"`

	Log      LogConfig      `yaml:"log"`
	Tokens   TokenConfig    `yaml:"tokens"`
	Session  SessionConfig  `yaml:"session"`
	Password PasswordConfig `yaml:"password"`
	Keys     KeysConfig     `yaml:"keys"`
	Cache    CacheConfig    `yaml:"cache"`
	SMTP     SMTPConfig     `yaml:"smtp"`
	Codes    CodesConfig    `yaml:"codes"`
	SMS      SMSConfig      `yaml:"sms"`
	Audit    AuditConfig    `yaml:"audit"`

	// origins records where each key's value came from, to say so in problems.
	origins map[string]string
	// warnings are things Load ignored that a person may want to hear about.
	warnings []string
}

// LogConfig is the process log.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

// TokenConfig holds the lifetimes of everything the OP issues.
type TokenConfig struct {
	AccessTokenTTL time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL     time.Duration `yaml:"id_token_ttl"`
	// RefreshTokenTTL is the absolute lifetime of a refresh-token family (from the first grant).
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
	// RefreshTokenIdleTTL ends a family that has not been used for this long.
	RefreshTokenIdleTTL time.Duration `yaml:"refresh_token_idle_ttl"`
	AuthCodeTTL         time.Duration `yaml:"auth_code_ttl"`
	// AuthRequestTTL is how long a started /authorize request waits for the login to finish.
	AuthRequestTTL time.Duration `yaml:"auth_request_ttl"`
}

// AuditConfig is the audit trail's retention.
type AuditConfig struct {
	// RetentionDays is how long events are kept; older ones are purged from the start of each
	// tenant's chain (serve does it every few hours; `tessera audit purge` at once).
	RetentionDays int `yaml:"retention_days"`
}

// SessionConfig is the single-sign-on browser session.
type SessionConfig struct {
	SSOTTL  time.Duration `yaml:"sso_ttl"`  // absolute
	IdleTTL time.Duration `yaml:"idle_ttl"` // since last use
}

// PasswordConfig holds the argon2id parameters and the password policy. The integer types are
// the ones golang.org/x/crypto/argon2.IDKey takes.
type PasswordConfig struct {
	Argon2MemoryKiB   uint32 `yaml:"argon2_memory_kib"`
	Argon2Iterations  uint32 `yaml:"argon2_iterations"`
	Argon2Parallelism uint8  `yaml:"argon2_parallelism"`
	// MaxConcurrentHashes caps hashes in flight; 0 means runtime.NumCPU(). See HashConcurrency.
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
	MinLength           int `yaml:"min_length"`
}

// KeysConfig is token signing.
type KeysConfig struct {
	SigningAlg string `yaml:"signing_alg"` // ES256 | RS256 | EdDSA
	// RotationGrace is how long a retired key stays in the JWKS.
	RotationGrace time.Duration `yaml:"rotation_grace"`
}

// SMTPConfig is the mail server that carries emailed codes and notices. An empty host turns
// email off (dev mode uses the dev outbox instead). The password is read from a file so it never
// sits in the configuration or the environment.
type SMTPConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	TLS          string `yaml:"tls"` // starttls, implicit, or none (loopback only)
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
}

// CodesConfig sets the one-time codes sent by email, text and call: how long each is valid and
// how often they may be sent (against SMS pumping).
type CodesConfig struct {
	EmailTTL time.Duration `yaml:"email_ttl"`
	SMSTTL   time.Duration `yaml:"sms_ttl"`
	VoiceTTL time.Duration `yaml:"voice_ttl"`
	// ResendCooldown is the wait between two codes to one person.
	ResendCooldown time.Duration `yaml:"resend_cooldown"`
	// Hourly caps on codes sent, per person, per destination number or address, per client IP.
	PerUserHourly        int `yaml:"per_user_hourly"`
	PerDestinationHourly int `yaml:"per_destination_hourly"`
	PerIPHourly          int `yaml:"per_ip_hourly"`
}

// SMSConfig is the gateway that carries texts and calls: none (dev mode uses the dev outbox), a
// Twilio-shaped REST API, or a signed webhook to the organisation's own gateway. Secrets are read
// from files, never from the configuration or the environment.
type SMSConfig struct {
	Provider            string `yaml:"provider"` // none | twilio | webhook
	TwilioAPIURL        string `yaml:"twilio_api_url"`
	TwilioAccountSID    string `yaml:"twilio_account_sid"`
	TwilioAuthTokenFile string `yaml:"twilio_auth_token_file"`
	// From is the sending number (E.164).
	From string `yaml:"from"`
	// LineTypeLookup asks the carrier lookup API (Twilio Lookup shape) whether a number is a
	// landline before texting it; TwilioLookupURL is its root.
	LineTypeLookup  bool   `yaml:"line_type_lookup"`
	TwilioLookupURL string `yaml:"twilio_lookup_url"`
	// WebhookURL receives signed POSTs (provider webhook); the secret signs them.
	WebhookURL        string `yaml:"webhook_url"`
	WebhookSecretFile string `yaml:"webhook_secret_file"`
}

// CacheConfig is the in-memory cache of clients, keys and tenant policy.
type CacheConfig struct {
	TTL time.Duration `yaml:"ttl"` // 0 disables the cache; at most 60s
}

// Default returns the settings used when nothing else is given.
func Default() *Config {
	return &Config{
		Addr:           "127.0.0.1:8080",
		Issuer:         "http://localhost:8080",
		DatabaseURL:    "sqlite:./data/tessera.db",
		SecretKeyFile:  "./data/secret.key",
		TrustedProxies: []string{},
		Log:            LogConfig{Level: "info", Format: "json"},
		Tokens: TokenConfig{
			AccessTokenTTL:      15 * time.Minute,
			IDTokenTTL:          15 * time.Minute,
			RefreshTokenTTL:     720 * time.Hour,
			RefreshTokenIdleTTL: 168 * time.Hour,
			AuthCodeTTL:         60 * time.Second,
			AuthRequestTTL:      30 * time.Minute,
		},
		Session: SessionConfig{SSOTTL: 12 * time.Hour, IdleTTL: 2 * time.Hour},
		Password: PasswordConfig{
			Argon2MemoryKiB:   19456,
			Argon2Iterations:  2,
			Argon2Parallelism: 1,
			MinLength:         8,
		},
		Keys:  KeysConfig{SigningAlg: "ES256", RotationGrace: 24 * time.Hour},
		Cache: CacheConfig{TTL: 10 * time.Second},
		SMTP:  SMTPConfig{Port: 587, TLS: "starttls"},
		Codes: CodesConfig{EmailTTL: 15 * time.Minute, SMSTTL: 10 * time.Minute, VoiceTTL: 10 * time.Minute,
			ResendCooldown: 30 * time.Second, PerUserHourly: 5, PerDestinationHourly: 5, PerIPHourly: 20},
		SMS:   SMSConfig{Provider: "none", TwilioAPIURL: "https://api.twilio.com", TwilioLookupURL: "https://lookups.twilio.com"},
		Audit: AuditConfig{RetentionDays: 2191},
	}
}

// ValidationError lists every problem found in a configuration, one actionable sentence each,
// each starting with the key path it is about.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "\n") }

// EnvPrefix starts every environment variable Tessera reads.
const EnvPrefix = "TESSERA_"

// envConfigFile names the YAML file when Load is given no path.
const envConfigFile = EnvPrefix + "CONFIG"

// EnvVar returns the environment variable that sets a key path ("log.level" → TESSERA_LOG_LEVEL).
func EnvVar(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// field is one leaf setting, found by reflection on Config's yaml tags.
type field struct {
	path  string
	env   string
	index []int
	typ   reflect.Type
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	// fields are in declaration order, so problems come out in the order of the example file.
	fields, sections = indexFields()
	fieldByPath      = func() map[string]*field {
		m := make(map[string]*field, len(fields))
		for i := range fields {
			m[fields[i].path] = &fields[i]
		}
		return m
	}()
)

func indexFields() ([]field, map[string][]string) {
	var fs []field
	secs := map[string][]string{} // section path ("" = top level) → its keys
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || name == "" || name == "-" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			secs[prefix] = append(secs[prefix], name)
			idx := append(append([]int(nil), index...), i)
			if sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, path, idx)
				continue
			}
			fs = append(fs, field{path: path, env: EnvVar(path), index: idx, typ: sf.Type})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return fs, secs
}

func (f *field) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(f.index)
}

func (f *field) isList() bool { return f.typ.Kind() == reflect.Slice }

// set parses raw into the field. The error is a sentence about the value, without the key path.
func (f *field) set(c *Config, raw string) error {
	v := f.value(c)
	raw = strings.TrimSpace(raw)
	switch {
	case f.typ == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration (examples: 15m, 1h)", raw)
		}
		v.SetInt(int64(d))
	case f.isList():
		f.setList(c, splitList(raw))
	default:
		switch f.typ.Kind() {
		case reflect.String:
			v.SetString(raw)
		case reflect.Bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				return fmt.Errorf("%q is not true or false", raw)
			}
			v.SetBool(b)
		case reflect.Int, reflect.Int64, reflect.Int32:
			n, err := strconv.ParseInt(raw, 10, f.typ.Bits())
			if err != nil {
				return fmt.Errorf("%q is not a whole number", raw)
			}
			v.SetInt(n)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
			n, err := strconv.ParseUint(raw, 10, f.typ.Bits())
			if err != nil {
				return fmt.Errorf("%q is not a whole number from 0 to %d", raw, uint64(1)<<f.typ.Bits()-1)
			}
			v.SetUint(n)
		default:
			panic("config: no parser for " + f.typ.String() + " (" + f.path + ")")
		}
	}
	return nil
}

func (f *field) setList(c *Config, items []string) {
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	f.value(c).Set(reflect.ValueOf(out))
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// loader carries the config being built and the problems found on the way.
type loader struct {
	c        *Config
	problems []string
}

func (l *loader) problem(path, msg, where string) {
	l.problems = append(l.problems, path+": "+msg+" ["+where+"]")
}

// Load builds a Config from, in increasing precedence: Default(), the YAML file at path (or at
// $TESSERA_CONFIG when path is empty; no file when both are empty), the TESSERA_* variables in
// env (os.Environ() form), and flags (yaml key path → value, only for flags the user set; lists
// comma-separated). It then applies "demo implies dev" and validates.
//
// A file that was named but cannot be read is an error wrapping the fs error. Every other problem
// — YAML syntax, unknown keys, unparsable values, failed validation — is collected into one
// *ValidationError. Unknown TESSERA_* variables are ignored and reported by Warnings, except
// TESSERA_TEST_*, which belong to the tests. Empty variables count as unset.
func Load(path string, env []string, flags map[string]string) (*Config, error) {
	envMap := make(map[string]string)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			envMap[k] = v
		}
	}
	if path == "" {
		path = envMap[envConfigFile]
	}

	l := &loader{c: Default()}
	l.c.origins = map[string]string{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		l.applyYAML(path, data)
	}
	l.applyEnv(envMap)
	l.applyFlags(flags)

	c := l.c
	if c.Demo && !c.Dev {
		c.Dev = true
		c.origins["dev"] = originDemo
	}
	if err := c.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			l.problems = append(l.problems, ve.Problems...)
		}
	}
	if len(l.problems) > 0 {
		return nil, &ValidationError{Problems: l.problems}
	}
	return c, nil
}

const originDemo = "turned on by demo"

func (l *loader) applyYAML(path string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // an empty file changes nothing
		}
		l.problems = append(l.problems, fmt.Sprintf("%s: not valid YAML: %v", path, err))
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		l.problems = append(l.problems, fmt.Sprintf("%s: must hold one YAML document, not several", path))
	}
	if len(doc.Content) == 0 {
		return
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return
	}
	l.applyMapping(path, root, "")
}

// applyMapping walks one YAML mapping whose keys are the children of section prefix.
func (l *loader) applyMapping(file string, n *yaml.Node, prefix string) {
	where := func(n *yaml.Node) string { return fmt.Sprintf("%s line %d", file, n.Line) }
	if n.Kind != yaml.MappingNode {
		if prefix == "" {
			l.problems = append(l.problems, fmt.Sprintf("%s: the top level must be a mapping of keys such as \"addr: 127.0.0.1:8080\" [%s]", file, where(n)))
		} else {
			l.problem(prefix, "must be a mapping with the keys "+strings.Join(sections[prefix], ", "), where(n))
		}
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], deref(n.Content[i+1])
		path := kn.Value
		if prefix != "" {
			path = prefix + "." + kn.Value
		}
		if seen[kn.Value] {
			l.problem(path, "appears twice; keep one", where(kn))
			continue
		}
		seen[kn.Value] = true

		if _, ok := sections[path]; ok {
			if !isNull(vn) {
				l.applyMapping(file, vn, path)
			}
			continue
		}
		f, ok := fieldByPath[path]
		if !ok {
			msg := "unknown key"
			if s := suggest(kn.Value, sections[prefix]); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; known keys here: " + strings.Join(sections[prefix], ", ")
			}
			l.problem(path, msg, where(kn))
			continue
		}
		if isNull(vn) {
			continue // "key:" with nothing after it keeps the default
		}
		origin := "from " + where(vn) + "; env " + f.env
		if f.isList() {
			if vn.Kind != yaml.SequenceNode {
				l.problem(path, "must be a list, e.g. [10.0.0.0/8, 192.168.1.10]", origin)
				continue
			}
			items := make([]string, 0, len(vn.Content))
			bad := false
			for _, it := range vn.Content {
				if it = deref(it); it.Kind != yaml.ScalarNode {
					l.problem(path, "items must be plain strings such as 10.0.0.0/8", "from "+where(it))
					bad = true
					continue
				}
				items = append(items, it.Value)
			}
			if !bad {
				f.setList(l.c, items)
				l.c.origins[path] = origin
			}
			continue
		}
		if vn.Kind != yaml.ScalarNode {
			l.problem(path, "must be a single value, not a list or mapping", origin)
			continue
		}
		if err := f.set(l.c, vn.Value); err != nil {
			l.problem(path, err.Error(), origin)
			continue
		}
		l.c.origins[path] = origin
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func (l *loader) applyEnv(env map[string]string) {
	for i := range fields {
		f := &fields[i]
		v, ok := env[f.env]
		if !ok || v == "" {
			continue
		}
		origin := "from env " + f.env
		if err := f.set(l.c, v); err != nil {
			l.problem(f.path, err.Error(), origin)
			continue
		}
		l.c.origins[f.path] = origin
	}
	known := map[string]bool{envConfigFile: true}
	envNames := make([]string, 0, len(fields))
	for _, f := range fields {
		known[f.env] = true
		envNames = append(envNames, f.env)
	}
	var unknown []string
	for k := range env {
		if !known[k] && !strings.HasPrefix(k, EnvPrefix+"TEST_") {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		w := k + " is not a Tessera setting; ignored"
		if s := suggest(k, envNames); s != "" {
			w += fmt.Sprintf(" (did you mean %s?)", s)
		}
		l.c.warnings = append(l.c.warnings, w)
	}
}

func (l *loader) applyFlags(flags map[string]string) {
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	paths := make([]string, 0, len(fields))
	for _, f := range fields {
		paths = append(paths, f.path)
	}
	for _, k := range keys {
		f, ok := fieldByPath[k]
		if !ok {
			msg := "is not a setting a flag can set"
			if s := suggest(k, paths); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			l.problem(k, msg, "command-line flag")
			continue
		}
		origin := "from a command-line flag; env " + f.env
		if err := f.set(l.c, flags[k]); err != nil {
			l.problem(k, err.Error(), origin)
			continue
		}
		l.c.origins[k] = origin
	}
}

// Warnings returns what Load ignored but a person may want to know, such as a misspelt
// TESSERA_* variable. Log them at start-up.
func (c *Config) Warnings() []string { return append([]string(nil), c.warnings...) }

// Validate reports every problem of c at once as a *ValidationError, or returns nil.
func (c *Config) Validate() error {
	v := &validator{c: c}

	if host, port, err := net.SplitHostPort(c.Addr); err != nil || !validPort(port) || strings.ContainsAny(host, " /") {
		v.add("addr", "must be host:port (examples: 127.0.0.1:8080, :8080, [::1]:8080)")
	}

	c.validateIssuer(v)

	loopback := c.issuerIsLoopbackHTTP()
	const devHosts = "http://localhost, http://127.0.0.1 or http://[::1]"
	if c.Demo && !loopback {
		v.add("demo", "only allowed when the issuer is "+devHosts+" (demo turns on dev mode); issuer is %q", c.Issuer)
	}
	if c.Dev && !loopback && c.origins["dev"] != originDemo {
		v.add("dev", "only allowed when the issuer is "+devHosts+"; issuer is %q", c.Issuer)
	}

	c.validateDatabaseURL(v)
	if strings.TrimSpace(c.SecretKeyFile) == "" {
		v.add("secret_key_file", "must be a file path (example: ./data/secret.key)")
	}
	for _, p := range c.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			v.add("trusted_proxies", "%q is not an IP address or CIDR (examples: 10.0.0.0/8, 192.168.1.10, fd00::/8)", p)
		}
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		v.add("log.format", "%q is not one of json, text", c.Log.Format)
	}

	t := c.Tokens
	for _, d := range []struct {
		path string
		d    time.Duration
	}{
		{"tokens.access_token_ttl", t.AccessTokenTTL},
		{"tokens.id_token_ttl", t.IDTokenTTL},
		{"tokens.refresh_token_ttl", t.RefreshTokenTTL},
		{"tokens.refresh_token_idle_ttl", t.RefreshTokenIdleTTL},
		{"tokens.auth_code_ttl", t.AuthCodeTTL},
		{"tokens.auth_request_ttl", t.AuthRequestTTL},
		{"session.sso_ttl", c.Session.SSOTTL},
		{"session.idle_ttl", c.Session.IdleTTL},
		{"keys.rotation_grace", c.Keys.RotationGrace},
	} {
		if d.d <= 0 {
			v.add(d.path, "must be a positive duration such as 15m (got %s)", formatDuration(d.d))
		}
	}
	if t.AuthCodeTTL > 10*time.Minute {
		v.add("tokens.auth_code_ttl", "must be at most 10m (RFC 6749 §4.1.2); got %s", formatDuration(t.AuthCodeTTL))
	}
	if t.RefreshTokenIdleTTL > t.RefreshTokenTTL && t.RefreshTokenTTL > 0 {
		v.add("tokens.refresh_token_idle_ttl", "must not exceed tokens.refresh_token_ttl (%s), the family's absolute lifetime; got %s",
			formatDuration(t.RefreshTokenTTL), formatDuration(t.RefreshTokenIdleTTL))
	}
	if c.Session.IdleTTL > c.Session.SSOTTL && c.Session.SSOTTL > 0 {
		v.add("session.idle_ttl", "must not exceed session.sso_ttl (%s), the session's absolute lifetime; got %s",
			formatDuration(c.Session.SSOTTL), formatDuration(c.Session.IdleTTL))
	}

	p := c.Password
	const owaspFloor = 35840 // KiB × iterations of OWASP's weakest argon2id row (7 MiB × 5)
	switch {
	case p.Argon2MemoryKiB < 7168:
		v.add("password.argon2_memory_kib", "must be at least 7168 (7 MiB, the OWASP minimum); got %d", p.Argon2MemoryKiB)
	case p.Argon2MemoryKiB > 4<<20:
		v.add("password.argon2_memory_kib", "must be at most 4194304 (4 GiB per hash); got %d", p.Argon2MemoryKiB)
	}
	if p.Argon2Iterations < 1 {
		v.add("password.argon2_iterations", "must be at least 1")
	} else if p.Argon2MemoryKiB >= 7168 && uint64(p.Argon2MemoryKiB)*uint64(p.Argon2Iterations) < owaspFloor {
		v.add("password.argon2_iterations", "%d iterations of %d KiB is below the OWASP minimum; use e.g. 19456 KiB × 2, 12288 × 3, 9216 × 4 or 7168 × 5",
			p.Argon2Iterations, p.Argon2MemoryKiB)
	}
	if p.Argon2Parallelism < 1 {
		v.add("password.argon2_parallelism", "must be at least 1")
	}
	if p.MaxConcurrentHashes < 0 {
		v.add("password.max_concurrent_hashes", "must be 0 (one per CPU) or more; got %d", p.MaxConcurrentHashes)
	}
	if p.MinLength < 8 || p.MinLength > 64 {
		v.add("password.min_length", "must be between 8 (NIST SP 800-63B minimum) and 64; got %d", p.MinLength)
	}

	switch c.Keys.SigningAlg {
	case "ES256", "RS256", "EdDSA":
	default:
		v.add("keys.signing_alg", "%q is not one of ES256, RS256, EdDSA", c.Keys.SigningAlg)
	}
	if g := c.Keys.RotationGrace; g > 0 {
		for _, ttl := range []struct {
			path string
			d    time.Duration
		}{{"tokens.id_token_ttl", t.IDTokenTTL}, {"tokens.access_token_ttl", t.AccessTokenTTL}} {
			if g < ttl.d {
				v.add("keys.rotation_grace", "must be at least %s (%s) so tokens signed by a retired key still verify; got %s",
					ttl.path, formatDuration(ttl.d), formatDuration(g))
			}
		}
	}

	if c.Audit.RetentionDays < 1 {
		v.add("audit.retention_days", "must be at least 1 (the default, 2191, is six years as HIPAA asks); got %d", c.Audit.RetentionDays)
	}

	switch c.SMTP.TLS {
	case "starttls", "implicit":
	case "none":
		if h := c.SMTP.Host; h != "" && h != "localhost" && h != "127.0.0.1" && h != "::1" {
			v.add("smtp.tls", "none is only allowed for a mail server on this machine (localhost); use starttls or implicit for %q", h)
		}
	default:
		v.add("smtp.tls", "must be starttls, implicit or none; got %q", c.SMTP.TLS)
	}
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		v.add("smtp.port", "must be a port number (587 for starttls, 465 for implicit TLS); got %d", c.SMTP.Port)
	}
	if c.SMTP.Host != "" && !strings.Contains(c.SMTP.From, "@") {
		v.add("smtp.from", "must be the sender address (example: Riverside Health <no-reply@riverside.example>) when smtp.host is set")
	}
	for _, ttl := range []struct {
		path string
		d    time.Duration
		max  time.Duration
	}{{"codes.email_ttl", c.Codes.EmailTTL, time.Hour}, {"codes.sms_ttl", c.Codes.SMSTTL, 10 * time.Minute}, {"codes.voice_ttl", c.Codes.VoiceTTL, 10 * time.Minute}} {
		// NIST SP 800-63B: an out-of-band code lives at most 10 minutes.
		if ttl.d < time.Minute || ttl.d > ttl.max {
			v.add(ttl.path, "must be between 1m and %s; got %s", formatDuration(ttl.max), formatDuration(ttl.d))
		}
	}
	if c.Codes.ResendCooldown < 0 || c.Codes.ResendCooldown > 10*time.Minute {
		v.add("codes.resend_cooldown", "must be between 0s and 10m; got %s", formatDuration(c.Codes.ResendCooldown))
	}
	for _, n := range []struct {
		path string
		v    int
	}{{"codes.per_user_hourly", c.Codes.PerUserHourly}, {"codes.per_destination_hourly", c.Codes.PerDestinationHourly}, {"codes.per_ip_hourly", c.Codes.PerIPHourly}} {
		if n.v < 1 || n.v > 1000 {
			v.add(n.path, "must be between 1 and 1000; got %d", n.v)
		}
	}
	switch c.SMS.Provider {
	case "none":
	case "twilio":
		if c.SMS.TwilioAccountSID == "" || c.SMS.TwilioAuthTokenFile == "" {
			v.add("sms.provider", "twilio needs sms.twilio_account_sid and sms.twilio_auth_token_file")
		}
		if !strings.HasPrefix(c.SMS.From, "+") {
			v.add("sms.from", "must be the sending number in E.164 (+12025550123) when sms.provider is twilio")
		}
	case "webhook":
		if c.SMS.WebhookURL == "" || c.SMS.WebhookSecretFile == "" {
			v.add("sms.provider", "webhook needs sms.webhook_url and sms.webhook_secret_file")
		}
	default:
		v.add("sms.provider", "must be none, twilio or webhook; got %q", c.SMS.Provider)
	}
	if c.SMS.LineTypeLookup && (c.SMS.TwilioAccountSID == "" || c.SMS.TwilioAuthTokenFile == "") {
		v.add("sms.line_type_lookup", "needs sms.twilio_account_sid and sms.twilio_auth_token_file")
	}
	if c.Cache.TTL < 0 || c.Cache.TTL > time.Minute {
		v.add("cache.ttl", "must be between 0 (no cache) and 60s, so a revoked client or key stops working within a minute; got %s", formatDuration(c.Cache.TTL))
	}

	if len(v.problems) > 0 {
		return &ValidationError{Problems: v.problems}
	}
	return nil
}

type validator struct {
	c        *Config
	problems []string
}

// add records a problem about a key, saying where its value came from and which variable sets it.
func (v *validator) add(path, format string, args ...any) {
	where := "env " + EnvVar(path)
	if o := v.c.origins[path]; o != "" {
		where = o
	}
	v.problems = append(v.problems, path+": "+fmt.Sprintf(format, args...)+" ["+where+"]")
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

func (c *Config) validateIssuer(v *validator) {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Issuer, "#") {
		v.add("issuer", "must be an absolute http(s) URL without query or fragment (example: https://id.example.com); got %q", c.Issuer)
		return
	}
	if u.User != nil {
		v.add("issuer", "must not contain user:password@")
	}
	if strings.HasSuffix(u.Path, "/") {
		v.add("issuer", "must not end with \"/\": tokens carry the issuer exactly (write https://id.example.com, not https://id.example.com/)")
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		v.add("issuer", "http is only allowed for loopback hosts; use https")
	}
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) issuerIsLoopbackHTTP() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && u.Scheme == "http" && isLoopbackHost(u.Hostname())
}

// IssuerIsHTTPS reports whether the issuer is an https URL (so cookies get Secure and __Host-,
// and responses HSTS).
func (c *Config) IssuerIsHTTPS() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && u.Scheme == "https"
}

// DevMode reports whether dev conveniences are on: dev, or demo, which implies it.
func (c *Config) DevMode() bool { return c.Dev || c.Demo }

func (c *Config) validateDatabaseURL(v *validator) {
	const accepts = "must be sqlite:PATH, sqlite::memory: or postgres://user:password@host:5432/dbname"
	s := c.DatabaseURL
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		switch {
		case strings.TrimSpace(p) == "":
			v.add("database_url", accepts+"; the sqlite path is empty")
		case strings.HasPrefix(p, "//"):
			v.add("database_url", accepts+"; write sqlite:/var/lib/tessera/tessera.db, not sqlite://…")
		}
	case isPostgresURL(s):
		// Never put err or s in the message: both may contain the password.
		u, err := url.Parse(s)
		switch {
		case strings.Contains(s, "#"):
			v.add("database_url", accepts+"; it contains '#': percent-encode it in the password as %%23")
		case err != nil || u.Opaque != "":
			v.add("database_url", accepts+"; the postgres URL does not parse (percent-encode special characters in the password, e.g. / as %%2F)")
		}
	default:
		v.add("database_url", accepts)
	}
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// DatabaseDriver splits database_url into a driver name and what to open with it:
// ("sqlite", path) — path may be ":memory:" — or ("postgres", the URL unchanged).
// It returns ("", "") for anything else; Validate rejects those.
func (c *Config) DatabaseDriver() (driver, dsn string) {
	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite:"):
		return "sqlite", strings.TrimPrefix(c.DatabaseURL, "sqlite:")
	case isPostgresURL(c.DatabaseURL):
		return "postgres", c.DatabaseURL
	}
	return "", ""
}

// RedactedDatabaseURL returns database_url with any password replaced by "xxxxx".
func (c *Config) RedactedDatabaseURL() string { return redactDatabaseURL(c.DatabaseURL) }

// redactDatabaseURL works on the raw string rather than url.Parse: a password with an unescaped
// '#', '/' or '?' makes url.Parse split the URL elsewhere, and then leak part of the password.
func redactDatabaseURL(s string) string {
	if strings.HasPrefix(s, "sqlite:") {
		return s
	}
	if !isPostgresURL(s) {
		return "xxxxx" // unknown form: it may be a key=value DSN with a password in it
	}
	scheme, rest, _ := strings.Cut(s, "://")
	host := rest
	userinfo := ""
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo, host = rest[:at], rest[at+1:]
		if user, _, hasPw := strings.Cut(userinfo, ":"); hasPw {
			userinfo = user + ":xxxxx"
		}
		userinfo += "@"
	}
	if base, query, ok := strings.Cut(host, "?"); ok {
		params := strings.Split(query, "&")
		for i, p := range params {
			k, _, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); strings.EqualFold(k, "password") || (err == nil && strings.EqualFold(dk, "password")) {
				params[i] = k + "=xxxxx"
			}
		}
		host = base + "?" + strings.Join(params, "&")
	}
	return scheme + "://" + userinfo + host
}

// parseProxy turns a CIDR or a bare IP (as a /32 or /128) into a network.
func parseProxy(s string) (*net.IPNet, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		_, n, err := net.ParseCIDR(s)
		return n, err
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("%q is not an IP address", s)
	}
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}, nil
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(128, 128)}, nil
}

// TrustedProxyNets returns trusted_proxies parsed, bare IPs as /32 or /128. Entries that do not
// parse are left out; Validate reports them.
func (c *Config) TrustedProxyNets() []*net.IPNet {
	out := make([]*net.IPNet, 0, len(c.TrustedProxies))
	for _, p := range c.TrustedProxies {
		if n, err := parseProxy(p); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// SlogLevel returns the level as a slog.Level (info for anything Validate would reject).
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// HashConcurrency is how many password hashes may run at once: max_concurrent_hashes, or the
// number of CPUs when that is 0.
func (p PasswordConfig) HashConcurrency() int {
	if p.MaxConcurrentHashes > 0 {
		return p.MaxConcurrentHashes
	}
	return runtime.NumCPU()
}

// display is a field's value as shown to people: durations as "15m", database_url redacted.
func (f *field) display(c *Config) any {
	v := f.value(c)
	switch {
	case f.path == "database_url":
		return redactDatabaseURL(v.String())
	case f.typ == durationType:
		return formatDuration(time.Duration(v.Int()))
	case f.isList():
		return append([]string{}, v.Interface().([]string)...)
	}
	return v.Interface()
}

// Redacted returns the settings as nested maps keyed like the YAML file, safe to print or log:
// the database password is "xxxxx" and durations are strings such as "15m".
func (c *Config) Redacted() map[string]any {
	out := map[string]any{}
	for i := range fields {
		f := &fields[i]
		m := out
		parts := strings.Split(f.path, ".")
		for _, sec := range parts[:len(parts)-1] {
			sub, ok := m[sec].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[sec] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = f.display(c)
	}
	return out
}

// String renders the redacted settings as JSON.
func (c *Config) String() string {
	b, err := json.Marshal(c.Redacted())
	if err != nil {
		return "config: " + err.Error()
	}
	return string(b)
}

// LogValue makes slog print the redacted settings as nested groups.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(attrs(c.Redacted())...)
}

func attrs(m map[string]any) []slog.Attr {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		if sub, ok := m[k].(map[string]any); ok {
			out = append(out, slog.Attr{Key: k, Value: slog.GroupValue(attrs(sub)...)})
			continue
		}
		out = append(out, slog.Any(k, m[k]))
	}
	return out
}

// formatDuration prints 15m rather than Go's 15m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "m0s")
	if s != d.String() {
		s += "m"
	}
	if t := strings.TrimSuffix(s, "h0m"); t != s {
		s = t + "h"
	}
	return s
}

// suggest returns the candidate nearest to s when it is close enough to be a likely typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
