package config

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const examplePath = "../../config/tessera.example.yaml"

// writeYAML writes a config file into a fresh temporary directory and returns its path.
func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tessera.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// exported drops the bookkeeping Load adds, so a loaded Config compares equal to a built one.
func exported(c *Config) *Config {
	cp := *c
	cp.origins, cp.warnings = nil, nil
	return &cp
}

// problems returns the problems of a *ValidationError, failing the test for any other error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	return ve.Problems
}

func hasProblem(ps []string, want string) bool {
	for _, p := range ps {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default() does not validate:\n%v", err)
	}
	c, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(exported(c), Default()) {
		t.Fatalf("Load with nothing = %v, want Default() = %v", c, Default())
	}
}

func TestExampleFileEqualsDefault(t *testing.T) {
	c, err := Load(examplePath, nil, nil)
	if err != nil {
		t.Fatalf("example file does not load:\n%v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example file does not validate:\n%v", err)
	}
	if got, want := exported(c), Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("example file drifted from Default():\n got %v\nwant %v", got, want)
	}
	// Every key is set in the file, not merely defaulted.
	for _, f := range fields {
		if c.origins[f.path] == "" {
			t.Errorf("example file does not set %s", f.path)
		}
	}
}

func TestExampleFileDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := strings.TrimPrefix(prefix+"."+k.Value, ".")
			if v.Kind == yaml.MappingNode {
				walk(v, path)
				continue
			}
			comments[path] = k.HeadComment + k.LineComment + v.LineComment
		}
	}
	walk(doc.Content[0], "")
	for _, f := range fields {
		c, ok := comments[f.path]
		if !ok {
			t.Errorf("%s is missing from the example file", f.path)
			continue
		}
		if !strings.Contains(c, "Env: "+f.env) {
			t.Errorf("%s: its comment must name %s, got %q", f.path, f.env, c)
		}
	}
}

func TestPrecedence(t *testing.T) {
	const file = `
addr: 10.0.0.1:9000
issuer: https://file.example.com
trusted_proxies: [10.0.0.0/8]
log:
  level: debug
tokens:
  access_token_ttl: 5m
`
	tests := []struct {
		name  string
		file  bool
		env   []string
		flags map[string]string
		check func(*Config) (got, want any)
	}{
		{"default", false, nil, nil, func(c *Config) (any, any) { return c.Addr, "127.0.0.1:8080" }},
		{"yaml over default", true, nil, nil, func(c *Config) (any, any) { return c.Addr, "10.0.0.1:9000" }},
		{"env over yaml", true, []string{"TESSERA_ADDR=10.0.0.2:9001"}, nil, func(c *Config) (any, any) { return c.Addr, "10.0.0.2:9001" }},
		{"flag over env", true, []string{"TESSERA_ADDR=10.0.0.2:9001"}, map[string]string{"addr": "10.0.0.3:9002"},
			func(c *Config) (any, any) { return c.Addr, "10.0.0.3:9002" }},
		{"empty env is unset", true, []string{"TESSERA_ADDR="}, nil, func(c *Config) (any, any) { return c.Addr, "10.0.0.1:9000" }},
		{"yaml untouched by other env", true, []string{"TESSERA_DEMO=false"}, nil, func(c *Config) (any, any) { return c.Issuer, "https://file.example.com" }},
		{"nested yaml", true, nil, nil, func(c *Config) (any, any) { return c.Log.Level, "debug" }},
		{"nested env over yaml", true, []string{"TESSERA_LOG_LEVEL=warn"}, nil, func(c *Config) (any, any) { return c.Log.Level, "warn" }},
		{"nested flag over env", true, []string{"TESSERA_LOG_LEVEL=warn"}, map[string]string{"log.level": "error"},
			func(c *Config) (any, any) { return c.Log.Level, "error" }},
		{"duration yaml", true, nil, nil, func(c *Config) (any, any) { return c.Tokens.AccessTokenTTL, 5 * time.Minute }},
		{"duration env", true, []string{"TESSERA_TOKENS_ACCESS_TOKEN_TTL=7m"}, nil,
			func(c *Config) (any, any) { return c.Tokens.AccessTokenTTL, 7 * time.Minute }},
		{"duration flag", true, []string{"TESSERA_TOKENS_ACCESS_TOKEN_TTL=7m"}, map[string]string{"tokens.access_token_ttl": "9m"},
			func(c *Config) (any, any) { return c.Tokens.AccessTokenTTL, 9 * time.Minute }},
		{"list yaml", true, nil, nil, func(c *Config) (any, any) { return c.TrustedProxies, []string{"10.0.0.0/8"} }},
		{"list env comma-separated", true, []string{"TESSERA_TRUSTED_PROXIES=192.168.0.0/16, 10.1.2.3"}, nil,
			func(c *Config) (any, any) { return c.TrustedProxies, []string{"192.168.0.0/16", "10.1.2.3"} }},
		{"list flag", true, []string{"TESSERA_TRUSTED_PROXIES=192.168.0.0/16"}, map[string]string{"trusted_proxies": "::1"},
			func(c *Config) (any, any) { return c.TrustedProxies, []string{"::1"} }},
		{"database flag", false, []string{"TESSERA_DATABASE_URL=sqlite:/env.db"}, map[string]string{"database_url": "sqlite::memory:"},
			func(c *Config) (any, any) { return c.DatabaseURL, "sqlite::memory:" }},
		{"secret key file env", false, []string{"TESSERA_SECRET_KEY_FILE=/run/secrets/k"}, nil,
			func(c *Config) (any, any) { return c.SecretKeyFile, "/run/secrets/k" }},
		{"bool env", false, []string{"TESSERA_DEV=true"}, nil, func(c *Config) (any, any) { return c.Dev, true }},
		{"bool flag over env", false, []string{"TESSERA_DEV=true"}, map[string]string{"dev": "false"},
			func(c *Config) (any, any) { return c.Dev, false }},
		{"demo implies dev", false, nil, map[string]string{"demo": "true"}, func(c *Config) (any, any) { return c.Dev, true }},
		{"uint env", false, []string{"TESSERA_PASSWORD_ARGON2_PARALLELISM=4"}, nil,
			func(c *Config) (any, any) { return c.Password.Argon2Parallelism, uint8(4) }},
		{"TESSERA_CONFIG names the file", false, nil, nil, nil}, // filled in below
	}
	path := writeYAML(t, file)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, env := "", tt.env
			if tt.file {
				p = path
			}
			check := tt.check
			if check == nil { // TESSERA_CONFIG case
				env = []string{"TESSERA_CONFIG=" + path}
				check = func(c *Config) (any, any) { return c.Addr, "10.0.0.1:9000" }
			}
			c, err := Load(p, env, tt.flags)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := check(c); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestExplicitPathBeatsTESSERA_CONFIG(t *testing.T) {
	a := writeYAML(t, "addr: 10.0.0.1:1\n")
	b := writeYAML(t, "addr: 10.0.0.2:2\n")
	c, err := Load(a, []string{"TESSERA_CONFIG=" + b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "10.0.0.1:1" {
		t.Fatalf("addr = %q, want the explicit file's", c.Addr)
	}
}

func TestMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	for _, tt := range []struct {
		name string
		path string
		env  []string
	}{
		{"explicit path", missing, nil},
		{"TESSERA_CONFIG", "", []string{"TESSERA_CONFIG=" + missing}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path, tt.env, nil)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("want fs.ErrNotExist, got %v", err)
			}
			if !strings.Contains(err.Error(), "nope.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
}

func TestYAMLProblems(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"unknown top-level key", "adr: 1.2.3.4:5\n", []string{`adr: unknown key; did you mean "addr"?`, "line 1"}},
		{"unknown nested key", "log:\n  levl: debug\n", []string{`log.levl: unknown key; did you mean "level"?`, "line 2"}},
		{"unknown key, nothing close", "log:\n  colour: red\n", []string{"log.colour: unknown key; known keys here: level, format"}},
		{"unknown section", "ldap:\n  host: x\n", []string{"ldap: unknown key"}},
		{"bad duration", "tokens:\n  access_token_ttl: abc\n",
			[]string{`tokens.access_token_ttl: "abc" is not a duration (examples: 15m, 1h)`, "line 2; env TESSERA_TOKENS_ACCESS_TOKEN_TTL"}},
		{"bare number is not a duration", "cache:\n  ttl: 10\n", []string{`cache.ttl: "10" is not a duration`}},
		{"bad bool", "dev: yes\n", []string{`dev: "yes" is not true or false`}},
		{"bad int", "password:\n  min_length: eight\n", []string{`password.min_length: "eight" is not a whole number`}},
		{"uint out of range", "password:\n  argon2_parallelism: 300\n", []string{`password.argon2_parallelism: "300" is not a whole number from 0 to 255`}},
		{"negative uint", "password:\n  argon2_iterations: -1\n", []string{`password.argon2_iterations: "-1" is not a whole number from 0 to 4294967295`}},
		{"section not a mapping", "log: debug\n", []string{"log: must be a mapping with the keys level, format"}},
		{"list not a sequence", "trusted_proxies: 10.0.0.0/8\n", []string{"trusted_proxies: must be a list"}},
		{"scalar given a list", "addr: [a, b]\n", []string{"addr: must be a single value"}},
		{"duplicate key", "addr: 127.0.0.1:1\naddr: 127.0.0.1:2\n", []string{"addr: appears twice", "line 2"}},
		{"top level not a mapping", "- a\n- b\n", []string{"the top level must be a mapping"}},
		{"syntax error", "addr: [\n", []string{"not valid YAML"}},
		{"two documents", "addr: 127.0.0.1:1\n---\naddr: 127.0.0.1:2\n", []string{"one YAML document"}},
		{"every problem at once", "adr: x\ntokens:\n  id_token_ttl: abc\nlog:\n  level: loud\n",
			[]string{"adr: unknown key", "tokens.id_token_ttl: \"abc\" is not a duration", `log.level: "loud" is not one of debug, info, warn, error`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeYAML(t, tt.body), nil, nil)
			ps := problems(t, err)
			for _, w := range tt.want {
				if !hasProblem(ps, w) {
					t.Errorf("no problem contains %q; got:\n%s", w, strings.Join(ps, "\n"))
				}
			}
		})
	}
}

func TestEmptyAndNullYAML(t *testing.T) {
	for _, body := range []string{"", "# only a comment\n", "~\n", "log:\naddr:\n"} {
		c, err := Load(writeYAML(t, body), nil, nil)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if !reflect.DeepEqual(exported(c), Default()) {
			t.Fatalf("%q changed the defaults: %v", body, c)
		}
	}
}

func TestEnvAndFlagProblems(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		flags map[string]string
		want  string
	}{
		{"bad env duration", []string{"TESSERA_TOKENS_ACCESS_TOKEN_TTL=abc"}, nil,
			`tokens.access_token_ttl: "abc" is not a duration (examples: 15m, 1h) [from env TESSERA_TOKENS_ACCESS_TOKEN_TTL]`},
		{"bad env bool", []string{"TESSERA_DEMO=maybe"}, nil, `demo: "maybe" is not true or false [from env TESSERA_DEMO]`},
		{"bad flag duration", nil, map[string]string{"session.sso_ttl": "1 day"},
			`session.sso_ttl: "1 day" is not a duration (examples: 15m, 1h) [from a command-line flag; env TESSERA_SESSION_SSO_TTL]`},
		{"unknown flag key", nil, map[string]string{"database": "sqlite:x"}, `database: is not a setting a flag can set`},
		{"validation names env origin", []string{"TESSERA_ISSUER=http://id.example.com"}, nil,
			"issuer: http is only allowed for loopback hosts; use https [from env TESSERA_ISSUER]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", tt.env, tt.flags)
			if ps := problems(t, err); !hasProblem(ps, tt.want) {
				t.Fatalf("no problem contains %q; got:\n%s", tt.want, strings.Join(ps, "\n"))
			}
		})
	}
}

func TestUnknownEnv(t *testing.T) {
	c, err := Load("", []string{
		"TESSERA_TEST_POSTGRES_URL=postgres://u:p@h/db", // the tests' own: silent
		"TESSERA_ISUER=https://x",                       // a typo: warned
		"TESSERA_CONFIG=",                               // known, empty
		"HOME=/root",                                    // not ours
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"TESSERA_ISUER is not a Tessera setting; ignored (did you mean TESSERA_ISSUER?)"}
	if got := c.Warnings(); !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings = %q, want %q", got, want)
	}
}

func TestDurationParse(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"60s", time.Minute, false},
		{" 2h ", 2 * time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"abc", 0, true},
		{"15", 0, true},
		{"1d", 0, true},
		{"", 0, true},
	}
	f := fieldByPath["tokens.access_token_ttl"]
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := Default()
			err := f.set(c, tt.in)
			if tt.err {
				if err == nil || !strings.Contains(err.Error(), "is not a duration (examples: 15m, 1h)") {
					t.Fatalf("want a duration error, got %v", err)
				}
				return
			}
			if err != nil || c.Tokens.AccessTokenTTL != tt.want {
				t.Fatalf("got %v, %v; want %v", c.Tokens.AccessTokenTTL, err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"addr without port", func(c *Config) { c.Addr = "localhost" }, "addr: must be host:port (examples: 127.0.0.1:8080, :8080, [::1]:8080) [env TESSERA_ADDR]"},
		{"addr bad port", func(c *Config) { c.Addr = "127.0.0.1:http" }, "addr: must be host:port"},
		{"addr port too big", func(c *Config) { c.Addr = ":70000" }, "addr: must be host:port"},
		{"addr all interfaces", func(c *Config) { c.Addr = ":8080" }, ""},
		{"addr ipv6", func(c *Config) { c.Addr = "[::1]:8080" }, ""},
		{"issuer https", func(c *Config) { c.Issuer = "https://id.example.com" }, ""},
		{"issuer with path", func(c *Config) { c.Issuer = "https://example.com/tessera" }, ""},
		{"issuer 127.0.0.1", func(c *Config) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"issuer ::1", func(c *Config) { c.Issuer = "http://[::1]:8080" }, ""},
		{"issuer relative", func(c *Config) { c.Issuer = "/tessera" }, "issuer: must be an absolute http(s) URL without query or fragment"},
		{"issuer ftp", func(c *Config) { c.Issuer = "ftp://id.example.com" }, "issuer: must be an absolute http(s) URL without query or fragment"},
		{"issuer query", func(c *Config) { c.Issuer = "https://id.example.com?a=b" }, "issuer: must be an absolute http(s) URL without query or fragment"},
		{"issuer fragment", func(c *Config) { c.Issuer = "https://id.example.com#x" }, "issuer: must be an absolute http(s) URL without query or fragment"},
		{"issuer empty fragment", func(c *Config) { c.Issuer = "https://id.example.com#" }, "issuer: must be an absolute http(s) URL without query or fragment"},
		{"issuer empty", func(c *Config) { c.Issuer = "" }, "issuer: must be an absolute http(s) URL without query or fragment"},
		{"issuer userinfo", func(c *Config) { c.Issuer = "https://u:p@id.example.com" }, "issuer: must not contain user:password@"},
		{"issuer trailing slash", func(c *Config) { c.Issuer = "https://id.example.com/" }, `issuer: must not end with "/"`},
		{"issuer http public", func(c *Config) { c.Issuer = "http://id.example.com" }, "issuer: http is only allowed for loopback hosts; use https [env TESSERA_ISSUER]"},
		{"issuer http lookalike", func(c *Config) { c.Issuer = "http://localhost.example.com" }, "issuer: http is only allowed for loopback hosts; use https"},
		{"dev on loopback", func(c *Config) { c.Dev = true }, ""},
		{"dev on https", func(c *Config) { c.Dev = true; c.Issuer = "https://id.example.com" },
			`dev: only allowed when the issuer is http://localhost, http://127.0.0.1 or http://[::1]; issuer is "https://id.example.com" [env TESSERA_DEV]`},
		{"demo on https", func(c *Config) { c.Demo = true; c.Issuer = "https://id.example.com" },
			"demo: only allowed when the issuer is http://localhost, http://127.0.0.1 or http://[::1] (demo turns on dev mode)"},
		{"database memory", func(c *Config) { c.DatabaseURL = "sqlite::memory:" }, ""},
		{"database postgres", func(c *Config) { c.DatabaseURL = "postgres://u:p@db:5432/tessera?sslmode=require" }, ""},
		{"database postgresql", func(c *Config) { c.DatabaseURL = "postgresql://db/tessera" }, ""},
		{"database mysql", func(c *Config) { c.DatabaseURL = "mysql://db/tessera" }, "database_url: must be sqlite:PATH, sqlite::memory: or postgres://"},
		{"database empty", func(c *Config) { c.DatabaseURL = "" }, "database_url: must be sqlite:PATH"},
		{"database dsn", func(c *Config) { c.DatabaseURL = "host=db password=hunter2" }, "database_url: must be sqlite:PATH"},
		{"database sqlite empty path", func(c *Config) { c.DatabaseURL = "sqlite:" }, "database_url: must be sqlite:PATH, sqlite::memory: or postgres://user:password@host:5432/dbname; the sqlite path is empty"},
		{"database sqlite://", func(c *Config) { c.DatabaseURL = "sqlite:///var/x.db" }, "not sqlite://"},
		{"database unescaped #", func(c *Config) { c.DatabaseURL = "postgres://u:12#34@db/x" }, "percent-encode it in the password as %23"},
		{"database unparsable", func(c *Config) { c.DatabaseURL = "postgres://u:p/q@db:port/x" }, "the postgres URL does not parse"},
		{"secret key file empty", func(c *Config) { c.SecretKeyFile = " " }, "secret_key_file: must be a file path"},
		{"trusted proxy bad", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} },
			`trusted_proxies: "proxy.local" is not an IP address or CIDR (examples: 10.0.0.0/8, 192.168.1.10, fd00::/8) [env TESSERA_TRUSTED_PROXIES]`},
		{"trusted proxy bad mask", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, `trusted_proxies: "10.0.0.0/33" is not an IP address or CIDR`},
		{"log level", func(c *Config) { c.Log.Level = "INFO" }, `log.level: "INFO" is not one of debug, info, warn, error [env TESSERA_LOG_LEVEL]`},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml" is not one of json, text`},
		{"access ttl zero", func(c *Config) { c.Tokens.AccessTokenTTL = 0 }, "tokens.access_token_ttl: must be a positive duration such as 15m (got 0s)"},
		{"id ttl negative", func(c *Config) { c.Tokens.IDTokenTTL = -time.Minute }, "tokens.id_token_ttl: must be a positive duration such as 15m (got -1m)"},
		{"refresh ttl zero", func(c *Config) { c.Tokens.RefreshTokenTTL = 0 }, "tokens.refresh_token_ttl: must be a positive duration"},
		{"refresh idle zero", func(c *Config) { c.Tokens.RefreshTokenIdleTTL = 0 }, "tokens.refresh_token_idle_ttl: must be a positive duration"},
		{"refresh idle over absolute", func(c *Config) { c.Tokens.RefreshTokenIdleTTL = 1000 * time.Hour },
			"tokens.refresh_token_idle_ttl: must not exceed tokens.refresh_token_ttl (720h), the family's absolute lifetime; got 1000h"},
		{"auth code zero", func(c *Config) { c.Tokens.AuthCodeTTL = 0 }, "tokens.auth_code_ttl: must be a positive duration"},
		{"auth code too long", func(c *Config) { c.Tokens.AuthCodeTTL = time.Hour }, "tokens.auth_code_ttl: must be at most 10m (RFC 6749 §4.1.2); got 1h"},
		{"auth request zero", func(c *Config) { c.Tokens.AuthRequestTTL = 0 }, "tokens.auth_request_ttl: must be a positive duration"},
		{"sso zero", func(c *Config) { c.Session.SSOTTL = 0 }, "session.sso_ttl: must be a positive duration"},
		{"idle zero", func(c *Config) { c.Session.IdleTTL = 0 }, "session.idle_ttl: must be a positive duration"},
		{"idle over sso", func(c *Config) { c.Session.IdleTTL = 13 * time.Hour }, "session.idle_ttl: must not exceed session.sso_ttl (12h)"},
		{"argon2 memory low", func(c *Config) { c.Password.Argon2MemoryKiB = 1024 }, "password.argon2_memory_kib: must be at least 7168 (7 MiB, the OWASP minimum); got 1024"},
		{"argon2 memory huge", func(c *Config) { c.Password.Argon2MemoryKiB = 5 << 20 }, "password.argon2_memory_kib: must be at most 4194304"},
		{"argon2 iterations zero", func(c *Config) { c.Password.Argon2Iterations = 0 }, "password.argon2_iterations: must be at least 1"},
		{"argon2 below OWASP", func(c *Config) { c.Password.Argon2Iterations = 1 }, "password.argon2_iterations: 1 iterations of 19456 KiB is below the OWASP minimum"},
		{"argon2 OWASP alternative", func(c *Config) { c.Password.Argon2MemoryKiB = 7168; c.Password.Argon2Iterations = 5 }, ""},
		{"argon2 parallelism zero", func(c *Config) { c.Password.Argon2Parallelism = 0 }, "password.argon2_parallelism: must be at least 1"},
		{"hash concurrency negative", func(c *Config) { c.Password.MaxConcurrentHashes = -1 }, "password.max_concurrent_hashes: must be 0 (one per CPU) or more; got -1"},
		{"min length short", func(c *Config) { c.Password.MinLength = 6 }, "password.min_length: must be between 8 (NIST SP 800-63B minimum) and 64; got 6"},
		{"min length long", func(c *Config) { c.Password.MinLength = 65 }, "password.min_length: must be between 8"},
		{"signing alg", func(c *Config) { c.Keys.SigningAlg = "HS256" }, `keys.signing_alg: "HS256" is not one of ES256, RS256, EdDSA [env TESSERA_KEYS_SIGNING_ALG]`},
		{"signing alg RS256", func(c *Config) { c.Keys.SigningAlg = "RS256" }, ""},
		{"signing alg EdDSA", func(c *Config) { c.Keys.SigningAlg = "EdDSA" }, ""},
		{"rotation grace zero", func(c *Config) { c.Keys.RotationGrace = 0 }, "keys.rotation_grace: must be a positive duration"},
		{"rotation grace below id token", func(c *Config) { c.Keys.RotationGrace = time.Hour; c.Tokens.IDTokenTTL = 2 * time.Hour },
			"keys.rotation_grace: must be at least tokens.id_token_ttl (2h) so tokens signed by a retired key still verify; got 1h"},
		{"rotation grace below access token", func(c *Config) { c.Keys.RotationGrace = time.Hour; c.Tokens.AccessTokenTTL = 90 * time.Minute },
			"keys.rotation_grace: must be at least tokens.access_token_ttl (1h30m)"},
		{"cache off", func(c *Config) { c.Cache.TTL = 0 }, ""},
		{"cache 60s", func(c *Config) { c.Cache.TTL = time.Minute }, ""},
		{"cache too long", func(c *Config) { c.Cache.TTL = 61 * time.Second }, "cache.ttl: must be between 0 (no cache) and 60s"},
		{"cache negative", func(c *Config) { c.Cache.TTL = -time.Second }, "cache.ttl: must be between 0 (no cache) and 60s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got:\n%v", err)
				}
				return
			}
			ps := problems(t, err)
			if !hasProblem(ps, tt.want) {
				t.Fatalf("no problem contains %q; got:\n%s", tt.want, strings.Join(ps, "\n"))
			}
			for _, p := range ps {
				if strings.Contains(p, "hunter2") || strings.Contains(p, "12#34") {
					t.Fatalf("problem leaks the database password: %s", p)
				}
			}
		})
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	c := Default()
	c.Addr = "nope"
	c.Issuer = "http://id.example.com"
	c.Dev = true
	c.DatabaseURL = "mysql://x"
	c.Cache.TTL = time.Hour
	ps := problems(t, c.Validate())
	for _, prefix := range []string{"addr: ", "issuer: ", "dev: ", "database_url: ", "cache.ttl: "} {
		if !hasProblem(ps, prefix) {
			t.Errorf("missing a problem for %s; got:\n%s", prefix, strings.Join(ps, "\n"))
		}
	}
	if got := c.Validate().Error(); got != strings.Join(ps, "\n") {
		t.Errorf("Error() = %q, want the problems joined by newlines", got)
	}
}

func TestDemoImpliesDevReportedOnce(t *testing.T) {
	_, err := Load("", []string{"TESSERA_ISSUER=https://id.example.com"}, map[string]string{"demo": "true"})
	ps := problems(t, err)
	if !hasProblem(ps, "demo: only allowed") || hasProblem(ps, "dev: only allowed") {
		t.Fatalf("want one problem, on demo; got:\n%s", strings.Join(ps, "\n"))
	}
}

func TestTrustedProxyNets(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, []string{}},
		{[]string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}},
		{[]string{"192.168.1.10"}, []string{"192.168.1.10/32"}},
		{[]string{"::1"}, []string{"::1/128"}},
		{[]string{"fd00::/8", " 172.16.0.0/12 "}, []string{"fd00::/8", "172.16.0.0/12"}},
		{[]string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}}, // host bits are masked off
		{[]string{"::ffff:10.0.0.1"}, []string{"10.0.0.1/32"}},
		{[]string{"bogus", "10.0.0.1"}, []string{"10.0.0.1/32"}}, // Validate reports bogus
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, ","), func(t *testing.T) {
			c := Default()
			c.TrustedProxies = tt.in
			got := []string{}
			for _, n := range c.TrustedProxyNets() {
				got = append(got, n.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTrustedProxiesFromEnvParse(t *testing.T) {
	c, err := Load("", []string{"TESSERA_TRUSTED_PROXIES=10.0.0.0/8,,192.168.1.10 , ::1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range c.TrustedProxyNets() {
		got = append(got, n.String())
	}
	if want := []string{"10.0.0.0/8", "192.168.1.10/32", "::1/128"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRedaction(t *testing.T) {
	tests := []struct {
		url, want, secret string
	}{
		{"postgres://tessera:hunter2@db:5432/tessera?sslmode=require", "postgres://tessera:xxxxx@db:5432/tessera?sslmode=require", "hunter2"},
		{"postgresql://tessera:hunter2@db/tessera", "postgresql://tessera:xxxxx@db/tessera", "hunter2"},
		{"postgres://tessera:p%40ss@db/t", "postgres://tessera:xxxxx@db/t", "p%40ss"},
		{"postgres://tessera:12#hunter2@db/t", "postgres://tessera:xxxxx@db/t", "hunter2"},  // unescaped '#'
		{"postgres://tessera:a/b?hunter2@db/t", "postgres://tessera:xxxxx@db/t", "hunter2"}, // unescaped '/' and '?'
		{"postgres://tessera:hun@ter2@db/t", "postgres://tessera:xxxxx@db/t", "ter2"},       // unescaped '@'
		{"postgres://db/t?user=u&password=hunter2", "postgres://db/t?user=u&password=xxxxx", "hunter2"},
		{"postgres://db/t?Password=hunter2", "postgres://db/t?Password=xxxxx", "hunter2"},
		{"postgres://tessera@db/t", "postgres://tessera@db/t", ""},
		{"sqlite:./data/tessera.db", "sqlite:./data/tessera.db", ""},
		{"host=db password=hunter2", "xxxxx", "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c := Default()
			c.DatabaseURL = tt.url
			if got := c.RedactedDatabaseURL(); got != tt.want {
				t.Fatalf("RedactedDatabaseURL = %q, want %q", got, tt.want)
			}
			if got := c.Redacted()["database_url"]; got != tt.want {
				t.Fatalf("Redacted()[database_url] = %q, want %q", got, tt.want)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
			for name, out := range map[string]string{"String": c.String(), "LogValue": buf.String(), "Validate": errString(c.Validate())} {
				if tt.secret != "" && strings.Contains(out, tt.secret) {
					t.Errorf("%s leaks the password: %s", name, out)
				}
			}
			if !strings.Contains(buf.String(), `"database_url":"`+tt.want+`"`) {
				t.Errorf("slog output lacks the redacted URL: %s", buf.String())
			}
			// The driver still gets the real URL.
			if _, dsn := c.DatabaseDriver(); tt.secret != "" && strings.HasPrefix(tt.url, "postgres") && dsn != tt.url {
				t.Errorf("DatabaseDriver dsn = %q, want the unredacted URL", dsn)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRenderings(t *testing.T) {
	c := Default()
	r := c.Redacted()
	if got := r["tokens"].(map[string]any)["refresh_token_ttl"]; got != "720h" {
		t.Errorf("refresh_token_ttl renders as %v, want 720h", got)
	}
	if got := r["tokens"].(map[string]any)["auth_code_ttl"]; got != "1m" {
		t.Errorf("auth_code_ttl renders as %v, want 1m", got)
	}
	if got := r["password"].(map[string]any)["argon2_memory_kib"]; got != uint32(19456) {
		t.Errorf("argon2_memory_kib renders as %#v", got)
	}
	s := c.String()
	for _, w := range []string{`"addr":"127.0.0.1:8080"`, `"trusted_proxies":[]`, `"cache":{"ttl":"10s"}`} {
		if !strings.Contains(s, w) {
			t.Errorf("String() = %s, lacks %s", s, w)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "config", c)
	if !strings.Contains(buf.String(), "config.log.level=info") {
		t.Errorf("slog groups are not nested: %s", buf.String())
	}
}

func TestDatabaseDriver(t *testing.T) {
	tests := []struct{ url, driver, dsn string }{
		{"sqlite:./data/tessera.db", "sqlite", "./data/tessera.db"},
		{"sqlite::memory:", "sqlite", ":memory:"},
		{"sqlite:/var/lib/tessera/t.db", "sqlite", "/var/lib/tessera/t.db"},
		{"postgres://u:p@db/t", "postgres", "postgres://u:p@db/t"},
		{"postgresql://db/t", "postgres", "postgresql://db/t"},
		{"mysql://db/t", "", ""},
	}
	for _, tt := range tests {
		c := Default()
		c.DatabaseURL = tt.url
		if d, dsn := c.DatabaseDriver(); d != tt.driver || dsn != tt.dsn {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tt.url, d, dsn, tt.driver, tt.dsn)
		}
	}
}

func TestIssuerHelpers(t *testing.T) {
	tests := []struct {
		issuer string
		https  bool
	}{
		{"https://id.example.com", true},
		{"http://localhost:8080", false},
		{"not a url", false},
	}
	for _, tt := range tests {
		c := Default()
		c.Issuer = tt.issuer
		if got := c.IssuerIsHTTPS(); got != tt.https {
			t.Errorf("%s: IssuerIsHTTPS = %v", tt.issuer, got)
		}
	}
	c := Default()
	c.Demo = true
	if !c.DevMode() {
		t.Error("DevMode must be true when demo is")
	}
}

func TestSmallHelpers(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got := (LogConfig{Level: in}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%s) = %v", in, got)
		}
	}
	if got := (PasswordConfig{MaxConcurrentHashes: 3}).HashConcurrency(); got != 3 {
		t.Errorf("HashConcurrency = %d, want 3", got)
	}
	if got := (PasswordConfig{}).HashConcurrency(); got < 1 {
		t.Errorf("HashConcurrency with 0 = %d, want NumCPU", got)
	}
	if got := EnvVar("tokens.access_token_ttl"); got != "TESSERA_TOKENS_ACCESS_TOKEN_TTL" {
		t.Errorf("EnvVar = %s", got)
	}
	for d, want := range map[time.Duration]string{0: "0s", time.Minute: "1m", 720 * time.Hour: "720h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s", -5 * time.Minute: "-5m"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

// The brief's contract names these variables; make sure the derived names match it.
func TestContractEnvNames(t *testing.T) {
	for _, env := range []string{"TESSERA_ADDR", "TESSERA_ISSUER", "TESSERA_DATABASE_URL", "TESSERA_SECRET_KEY_FILE",
		"TESSERA_TRUSTED_PROXIES", "TESSERA_DEMO", "TESSERA_DEV", "TESSERA_LOG_LEVEL", "TESSERA_TOKENS_ACCESS_TOKEN_TTL"} {
		found := false
		for _, f := range fields {
			found = found || f.env == env
		}
		if !found {
			t.Errorf("no setting reads %s", env)
		}
	}
}

func TestSMTPValidation(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"TESSERA_SMTP_HOST=mail.example.org", "TESSERA_SMTP_TLS=none", "TESSERA_SMTP_FROM=a@example.org"}, "smtp.tls: none is only allowed"},
		{[]string{"TESSERA_SMTP_HOST=mail.example.org"}, "smtp.from: must be the sender address"},
		{[]string{"TESSERA_SMTP_TLS=sometimes"}, "smtp.tls: must be starttls, implicit or none"},
		{[]string{"TESSERA_SMTP_PORT=70000"}, "smtp.port: must be a port number"},
	}
	for _, tt := range tests {
		_, err := Load("", tt.env, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.env, err, tt.want)
		}
	}
	if _, err := Load("", []string{"TESSERA_SMTP_HOST=localhost", "TESSERA_SMTP_TLS=none", "TESSERA_SMTP_PORT=2525", "TESSERA_SMTP_FROM=x@example.org"}, nil); err != nil {
		t.Errorf("a local mail server without TLS: %v", err)
	}
}
