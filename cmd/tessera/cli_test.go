package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/store"
)

// The in-process tests run `run(args, stdin, stdout, stderr)` exactly as main does, against a
// fresh SQLite file and key file, and judge only what an operator sees: the exit code, the one
// JSON object on stdout, the message on stderr (and, where the effect is the point, the row).

// cliEnv is one operator's installation: a database and a secret key file in a temp dir.
type cliEnv struct {
	t   *testing.T
	dir string
	db  string // --database value
	key string // TESSERA_SECRET_KEY_FILE

	vars map[string]string // ids saved by steps
	kids []string          // every kid keys rotate printed
}

func newCLI(t *testing.T) *cliEnv {
	t.Helper()
	hermeticEnv(t)
	dir := t.TempDir()
	c := &cliEnv{t: t, dir: dir, db: "sqlite:" + filepath.Join(dir, "t.db"), key: filepath.Join(dir, "secret.key")}
	t.Setenv("TESSERA_SECRET_KEY_FILE", c.key)
	return c
}

// hermeticEnv blanks every Tessera setting the developer's or CI's environment may carry (an
// empty value is ignored by the config loader), so only what a test sets counts.
func hermeticEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TESSERA_") && !strings.HasPrefix(k, "TESSERA_TEST_") {
			t.Setenv(k, "")
		}
	}
}

// exec runs one command verbatim and returns the exit code, stdout and stderr.
func (c *cliEnv) exec(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// run runs a command against this installation's database (--database is appended).
func (c *cliEnv) run(stdin string, args ...string) (int, string, string) {
	return c.exec(stdin, append(slices.Clone(args), "--database", c.db)...)
}

// ok runs a command that must succeed and decodes the one JSON object it prints.
func (c *cliEnv) ok(stdin string, args ...string) map[string]any {
	c.t.Helper()
	code, out, errs := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("tessera %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return decodeOne(c.t, out)
}

// store opens the installation's database directly, to check an effect.
func (c *cliEnv) store() *store.Store {
	c.t.Helper()
	st, err := store.Open("sqlite", strings.TrimPrefix(c.db, "sqlite:"))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

// decodeOne checks that out is exactly one JSON object (and a newline) and decodes it.
func decodeOne(t *testing.T, out string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stdout is not a JSON object: %v: %q", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON object: %q", out)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("stdout does not end with a newline: %q", out)
	}
	return m
}

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// fail is any non-zero exit (where 1 or 2 is not part of the contract).
const fail = -1

// step is one command of an operator's session. Args may hold {tenant}, {practice} and
// {tenant2}: ids saved by earlier steps.
type step struct {
	name  string
	stdin string
	args  []string
	code  int    // 0, 1, 2 or fail
	want  string // in stderr, for failures
	save  string // save the output's "id" under this name
	check func(t *testing.T, c *cliEnv, out map[string]any)
}

// TestCLIAdministration is an operator's session: every administration command, each refusal
// with its exit code and message, in one database, then proof that no refused command wrote
// anything.
func TestCLIAdministration(t *testing.T) {
	c := newCLI(t)
	hasID := func(t *testing.T, _ *cliEnv, out map[string]any) {
		if id, _ := out["id"].(string); id == "" || len(out) != 1 {
			t.Errorf(`want {"id": …}, got %v`, out)
		}
	}
	webClient := func(t *testing.T, _ *cliEnv, out map[string]any) {
		id, _ := out["client_id"].(string)
		sec, _ := out["client_secret"].(string)
		if id == "" || len(sec) < 32 || !slices.Equal(keysOf(out), []string{"client_id", "client_secret"}) {
			t.Errorf("want client_id and a high-entropy client_secret, got %v", out)
		}
	}
	publicClient := func(t *testing.T, _ *cliEnv, out map[string]any) {
		if _, has := out["client_secret"]; has {
			t.Errorf("a public client must have no client_secret key at all: %v", out)
		}
		if id, _ := out["client_id"].(string); id == "" || len(out) != 1 {
			t.Errorf("want only client_id: %v", out)
		}
	}
	const pw = "a long passphrase\n"
	redirect := func(uri string) []string {
		return []string{"client", "create", "--tenant", "{tenant}", "--name", "Portal", "--redirect-uri", uri}
	}

	steps := []step{
		// tenants
		{name: "tenant create", args: []string{"tenant", "create", "--name", "Riverside Health"}, save: "tenant", check: hasID},
		{name: "tenant create duplicate", args: []string{"tenant", "create", "--name", "Riverside Health"}, code: 1, want: `a tenant named "Riverside Health" already exists`},
		{name: "tenant create duplicate other case", args: []string{"tenant", "create", "--name", "riverside health"}, code: 1, want: "already exists"},
		{name: "tenant create without name", args: []string{"tenant", "create"}, code: 2, want: "--name is required"},
		{name: "tenant create blank name", args: []string{"tenant", "create", "--name", "   "}, code: 2, want: "--name is required"},
		{name: "tenant create bad mfa", args: []string{"tenant", "create", "--name", "X", "--mfa", "sometimes"}, code: 2, want: "use off, optional or required"},
		{name: "tenant create bad date", args: []string{"tenant", "create", "--name", "X", "--enforce-from", "31/03/2027"}, code: 2, want: "2027-03-31"},
		{name: "tenant create unknown flag", args: []string{"tenant", "create", "--name", "X", "--colour", "blue"}, code: 2, want: "flag provided but not defined: -colour"},
		{name: "tenant create stray argument", args: []string{"tenant", "create", "--name", "X", "extra"}, code: 2, want: `unexpected argument "extra"`},
		{name: "tenant create with policy", args: []string{"tenant", "create", "--name", "Lakeside Clinic", "--mfa", "off", "--enforce-from", "2027-03-31"}, save: "tenant2", check: hasID},

		// practices; --tenant takes the id or the name
		{name: "practice create by id", args: []string{"practice", "create", "--tenant", "{tenant}", "--name", "Main Street Clinic"}, save: "practice", check: hasID},
		{name: "practice create by name", args: []string{"practice", "create", "--tenant", "Riverside Health", "--name", "Hill Clinic"}, check: hasID},
		{name: "practice create duplicate", args: []string{"practice", "create", "--tenant", "{tenant}", "--name", "Main Street Clinic"}, code: 1, want: "already has a practice"},
		{name: "practice create unknown tenant", args: []string{"practice", "create", "--tenant", "Nowhere Clinic", "--name", "P"}, code: 1, want: `unknown tenant "Nowhere Clinic"`},
		{name: "practice create without tenant", args: []string{"practice", "create", "--name", "P"}, code: 2, want: "--tenant is required"},

		// clients
		{name: "client create web", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "Portal", "--type", "web",
			"--redirect-uri", "https://portal.example.org/cb", "--post-logout-redirect-uri", "https://portal.example.org/"}, check: webClient},
		{name: "client create web is the default type", args: redirect("https://portal.example.org/cb2"), check: webClient},
		{name: "client create public by tenant name", args: []string{"client", "create", "--tenant", "Riverside Health", "--name", "App", "--type", "public",
			"--redirect-uri", "http://127.0.0.1:7000/cb"}, check: publicClient},
		{name: "client create service", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "Lab feed", "--type", "service"}, check: webClient},
		{name: "client create service with admin scopes", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "HR sync", "--type", "service",
			"--scope", "admin:read", "--scope", "admin:write"}, check: func(t *testing.T, c *cliEnv, out map[string]any) {
			cl, err := c.store().ClientByID(context.Background(), out["client_id"].(string))
			if err != nil || !slices.Equal(cl.Scopes, store.StringList{"admin:read", "admin:write"}) {
				t.Errorf("scopes: %v %v", cl, err)
			}
		}},
		{name: "client create web refuses admin scope", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P",
			"--redirect-uri", "https://a.example/cb", "--scope", "admin:read"}, code: 2, want: "only a service client"},
		{name: "client create unknown scope", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "S", "--type", "service",
			"--scope", "admin:everything"}, code: 2, want: "use admin:read or admin:write"},
		{name: "client create service refuses redirect", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "S", "--type", "service",
			"--redirect-uri", "https://a.example/cb"}, code: 2, want: "takes no --redirect-uri"},
		{name: "client create service refuses post-logout", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "S", "--type", "service",
			"--post-logout-redirect-uri", "https://a.example/"}, code: 2, want: "takes no --redirect-uri or --post-logout-redirect-uri"},
		{name: "client create web needs redirect", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P"}, code: 2, want: "needs at least one --redirect-uri"},
		{name: "client create public needs redirect", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P", "--type", "public"}, code: 2, want: "needs at least one --redirect-uri"},
		{name: "client create bad type", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P", "--type", "spa", "--redirect-uri", "https://a.example/cb"}, code: 2, want: "use web, public or service"},
		{name: "client create without name", args: []string{"client", "create", "--tenant", "{tenant}", "--redirect-uri", "https://a.example/cb"}, code: 2, want: "--name is required"},
		{name: "client create bad id token alg", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P", "--redirect-uri", "https://a.example/cb", "--id-token-alg", "HS256"}, code: 2, want: "ES256, RS256 or EdDSA"},
		{name: "client create bad min acr", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P", "--redirect-uri", "https://a.example/cb", "--min-acr", "strong"}, code: 2, want: `--min-acr "strong"`},
		{name: "client create unknown tenant", args: []string{"client", "create", "--tenant", "Nowhere Clinic", "--name", "P", "--redirect-uri", "https://a.example/cb"}, code: 1, want: `unknown tenant "Nowhere Clinic"`},
		{name: "client create RS256", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "Legacy", "--redirect-uri", "https://legacy.example.org/cb", "--id-token-alg", "RS256"}, check: webClient},

		// redirect URI validation
		{name: "redirect relative path", args: redirect("/cb"), code: 2, want: `redirect URI "/cb" is not an absolute URL`},
		{name: "redirect relative host", args: redirect("portal.example.org/cb"), code: 2, want: "is not an absolute URL"},
		{name: "redirect http non-loopback", args: redirect("http://portal.example.org/cb"), code: 2, want: "only https is allowed"},
		{name: "redirect http private address", args: redirect("http://10.0.0.5/cb"), code: 2, want: "only https is allowed"},
		{name: "redirect http loopback look-alike", args: redirect("http://127.0.0.1.nip.io/cb"), code: 2, want: "only https is allowed"},
		{name: "redirect fragment", args: redirect("https://portal.example.org/cb#x"), code: 2, want: "must not contain a fragment"},
		{name: "redirect empty fragment", args: redirect("https://portal.example.org/cb#"), code: 2, want: "must not contain a fragment"},
		{name: "redirect user info", args: redirect("https://me:pw@portal.example.org/cb"), code: 2, want: "user name or password"},
		{name: "redirect other scheme", args: redirect("ftp://portal.example.org/cb"), code: 2, want: "must use https"},
		{name: "post-logout redirect validated", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P", "--redirect-uri", "https://a.example/cb",
			"--post-logout-redirect-uri", "http://a.example/"}, code: 2, want: "only https is allowed"},
		{name: "redirect one bad among good", args: []string{"client", "create", "--tenant", "{tenant}", "--name", "P", "--redirect-uri", "https://a.example/cb",
			"--redirect-uri", "/cb"}, code: 2, want: "not an absolute URL"},
		{name: "redirect https ok", args: redirect("https://portal.example.org/callback?x=1"), check: webClient},
		{name: "redirect http 127.0.0.1 ok", args: redirect("http://127.0.0.1/cb"), check: webClient},
		{name: "redirect http 127.0.0.1 with port ok", args: redirect("http://127.0.0.1:8765/cb"), check: webClient},
		{name: "redirect http localhost ok", args: redirect("http://localhost:8765/cb"), check: webClient},
		{name: "redirect http [::1] ok", args: redirect("http://[::1]:8765/cb"), check: webClient},

		// users: the password comes from stdin only
		{name: "user create", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "pat@example.org", "--name", "Pat Q. Smith",
			"--phone", "+1 202 555 0123", "--role", "patient", "--practice", "{practice}", "--password-stdin"},
			check: func(t *testing.T, c *cliEnv, out map[string]any) {
				hasID(t, c, out)
				id, _ := out["id"].(string)
				u, err := c.store().UserByID(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if u.Phone != "+12025550123" || u.Email != "pat@example.org" || u.Role != store.RolePatient ||
					u.Name != "Pat Q. Smith" || u.GivenName != "Pat Q." || u.FamilyName != "Smith" || u.PracticeID == nil || *u.PracticeID != c.vars["practice"] {
					t.Errorf("stored user: %+v", u)
				}
				if !strings.HasPrefix(u.PasswordHash, "$argon2id$") || strings.Contains(u.PasswordHash, "passphrase") {
					t.Errorf("the password must be stored as an argon2id hash, got %.20q", u.PasswordHash)
				}
			}},
		{name: "user create provider by names", stdin: pw, args: []string{"user", "create", "--tenant", "Riverside Health", "--email", "dr.lee@example.org",
			"--role", "provider", "--practice", "Main Street Clinic", "--password-stdin"}, check: hasID},
		{name: "user create password with CRLF", stdin: "another long passphrase\r\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "sam@example.org",
			"--role", "staff", "--password-stdin"}, check: hasID},
		{name: "user create in another tenant, same email", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant2}", "--email", "pat@example.org",
			"--role", "admin", "--password-stdin"}, check: hasID},
		{name: "user create duplicate email other case", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "PAT@example.ORG", "--password-stdin"},
			code: 1, want: `already has a user with the email "PAT@example.ORG"`},
		{name: "user create bad email", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "pat at example", "--password-stdin"}, code: 2, want: "is not a valid email address"},
		{name: "user create email with display name", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "Pat <pat2@example.org>", "--password-stdin"}, code: 2, want: "is not a valid email address"},
		{name: "user create email without domain dot", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "pat@localhost", "--password-stdin"}, code: 2, want: "is not a valid email address"},
		{name: "user create without email", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--password-stdin"}, code: 2, want: "--email is required"},
		{name: "user create unknown role", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--role", "doctor", "--password-stdin"}, code: 2, want: `--role "doctor": use patient, provider, staff or admin`},
		{name: "user create short password", stdin: "short\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"}, code: fail, want: "too short"},
		{name: "user create common password", stdin: "Password123\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"},
			code: fail, want: "password: the password is too easy to guess: it is on a list of common and breached passwords; choose something harder to guess"},
		{name: "user create fullwidth common password", stdin: "ｑｗｅｒｔｙ１２３\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"},
			code: fail, want: "list of common and breached passwords"},
		{name: "user create password from the email", stdin: "p@example.org\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"},
			code: fail, want: "made from the email address, a name or the organisation's name"},
		{name: "user create password from the name", stdin: "Pat Quinn 1984\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--name", "Pat Quinn", "--password-stdin"},
			code: fail, want: "made from the email address"},
		{name: "user create password from the tenant", stdin: "riversidehealth1\n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"},
			code: fail, want: "made from the email address"},
		{name: "user create empty stdin", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"}, code: fail, want: "password"},
		{name: "user create blank password", stdin: "              \n", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password-stdin"}, code: fail, want: "password"},
		{name: "user create without password-stdin", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org"}, code: 2, want: "--password-stdin is required"},
		{name: "user create password as flag", args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--password", "hunter2hunter2"}, code: 2, want: "flag provided but not defined: -password"},
		{name: "user create unknown practice", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--practice", "Nowhere", "--password-stdin"},
			code: 1, want: `unknown practice "Nowhere" in tenant "Riverside Health"`},
		{name: "user create practice of another tenant", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant2}", "--email", "p@example.org", "--practice", "{practice}", "--password-stdin"},
			code: 1, want: "unknown practice"},
		{name: "user create bad phone", stdin: pw, args: []string{"user", "create", "--tenant", "{tenant}", "--email", "p@example.org", "--phone", "12", "--password-stdin"}, code: 2, want: `--phone "12"`},
		{name: "user create unknown tenant", stdin: pw, args: []string{"user", "create", "--tenant", "Nowhere Clinic", "--email", "p@example.org", "--password-stdin"}, code: 1, want: `unknown tenant "Nowhere Clinic"`},

		// tenant policy: required MFA cannot be turned off
		{name: "tenant update mfa required", args: []string{"tenant", "update", "--tenant", "{tenant}", "--mfa", "required"},
			check: func(t *testing.T, c *cliEnv, out map[string]any) {
				if out["id"] != c.vars["tenant"] || out["mfa"] != "required" {
					t.Errorf("tenant update: %v", out)
				}
			}},
		{name: "tenant update mfa optional refused", args: []string{"tenant", "update", "--tenant", "{tenant}", "--mfa", "optional"}, code: 1, want: "cannot be turned off"},
		{name: "tenant update mfa off refused", args: []string{"tenant", "update", "--tenant", "Riverside Health", "--mfa", "off"}, code: 1, want: "cannot be turned off"},
		{name: "tenant update mfa required again by name", args: []string{"tenant", "update", "--tenant", "riverside health", "--mfa", "required"},
			check: func(t *testing.T, c *cliEnv, out map[string]any) {
				if out["id"] != c.vars["tenant"] || out["mfa"] != "required" {
					t.Errorf("tenant update by name: %v", out)
				}
			}},
		{name: "tenant update bad mfa", args: []string{"tenant", "update", "--tenant", "{tenant2}", "--mfa", "maybe"}, code: 2, want: "use off, optional or required"},
		{name: "tenant update unknown tenant", args: []string{"tenant", "update", "--tenant", "Nowhere Clinic", "--mfa", "required"}, code: 1, want: `unknown tenant "Nowhere Clinic"`},

		// keys
		{name: "keys rotate", args: []string{"keys", "rotate"}, check: rotated("ES256", "RS256", "EdDSA")},
		{name: "keys rotate again", args: []string{"keys", "rotate"}, check: rotated("ES256", "RS256", "EdDSA")},
		{name: "keys rotate one alg", args: []string{"keys", "rotate", "--alg", "RS256"}, check: rotated("RS256")},
		{name: "keys rotate bad alg", args: []string{"keys", "rotate", "--alg", "HS256"}, code: 2, want: `--alg "HS256": use ES256, RS256 or EdDSA`},

		// migrations are idempotent
		{name: "migrate", args: []string{"migrate"}},
		{name: "migrate again", args: []string{"migrate"}},

		{name: "unknown command", args: []string{"frobnicate"}, code: 2, want: `unknown command`},
		{name: "unknown subcommand", args: []string{"tenant", "delete", "--tenant", "{tenant}"}, code: 2, want: `unknown command "tenant delete"`},
	}

	c.vars = map[string]string{}
	created := map[string]int{} // successful creates per kind
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			args := make([]string, len(s.args))
			for i, a := range s.args {
				for k, v := range c.vars {
					a = strings.ReplaceAll(a, "{"+k+"}", v)
				}
				args[i] = a
			}
			code, out, errs := c.run(s.stdin, args...)
			switch {
			case s.code == 0 && code != 0:
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, errs)
			case s.code == fail && code == 0, s.code > 0 && code != s.code:
				t.Fatalf("exit %d, want %s; stderr:\n%s", code, exitName(s.code), errs)
			}
			if s.code != 0 {
				if !strings.Contains(errs, "tessera: ") || !strings.Contains(errs, s.want) {
					t.Errorf("stderr %q; want a message with %q", errs, s.want)
				}
				if out != "" {
					t.Errorf("a failed command printed to stdout: %q", out)
				}
				return
			}
			if args[0] == "migrate" {
				if out != "" || !strings.Contains(errs, "up to date") {
					t.Errorf("migrate: stdout %q, stderr %q", out, errs)
				}
				return
			}
			m := decodeOne(t, out)
			if s.save != "" {
				c.vars[s.save], _ = m["id"].(string)
			}
			if len(args) > 1 && args[1] == "create" {
				created[args[0]]++
			}
			if s.check != nil {
				s.check(t, c, m)
			}
		})
		if !ok && s.save != "" {
			t.Fatalf("step %q failed; the later steps depend on it", s.name)
		}
	}

	// Every rotation made new key ids.
	seen := map[string]bool{}
	for _, k := range c.kids {
		if seen[k] {
			t.Errorf("keys rotate reused kid %s", k)
		}
		seen[k] = true
	}

	// No refused command wrote anything: the audit trail (every administrator action) counts
	// exactly the successful ones, and it verifies.
	code, out, errs := c.run("", "audit", "export")
	if code != 0 {
		t.Fatalf("audit export: exit %d: %s", code, errs)
	}
	events := map[string]int{}
	for line := range strings.Lines(out) {
		var e struct{ Event, Actor string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit export line %q: %v", line, err)
		}
		if e.Actor != "cli" {
			t.Errorf("audit event %s has actor %q, want cli", e.Event, e.Actor)
		}
		events[e.Event]++
	}
	for kind, n := range map[string]int{"tenant": created["tenant"], "client": created["client"], "user": created["user"]} {
		if events[kind+".created"] != n {
			t.Errorf("audit trail holds %d %s.created, want %d (one per successful create, none for refusals)", events[kind+".created"], kind, n)
		}
	}
	if events["tenant.updated"] != 2 || events["keys.rotated"] != 7 {
		t.Errorf("audit trail: %v", events)
	}
	if out := c.ok("", "audit", "verify"); out["ok"] != true {
		t.Errorf("audit verify: %v", out)
	}
	if fi, err := os.Stat(c.key); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("the secret key file must exist and be private to its owner: %v %v", fi.Mode(), err)
	}
}

func exitName(code int) string {
	if code == fail {
		return "non-zero"
	}
	return string(rune('0' + code))
}

// rotated checks `keys rotate` output: one entry per algorithm with a fresh kid.
func rotated(algs ...string) func(t *testing.T, c *cliEnv, out map[string]any) {
	return func(t *testing.T, c *cliEnv, out map[string]any) {
		list, _ := out["rotated"].([]any)
		var got []string
		for _, r := range list {
			e, _ := r.(map[string]any)
			alg, _ := e["alg"].(string)
			kid, _ := e["kid"].(string)
			from, _ := e["active_from"].(string)
			if _, err := time.Parse(time.RFC3339, from); err != nil || kid == "" {
				t.Errorf("rotated entry %v: want alg, kid and an RFC 3339 active_from", e)
			}
			got = append(got, alg)
			c.kids = append(c.kids, kid)
		}
		if !slices.Equal(got, algs) || len(out) != 1 {
			t.Errorf("keys rotate printed %v, want the algorithms %v", out, algs)
		}
	}
}

// TestCLIMissingSecretKey: once the database holds sealed keys, a missing key file is an error
// that names the setting, and the refused command changes nothing (no half-written tenant, user
// or client that a retry would then trip over).
func TestCLIMissingSecretKey(t *testing.T) {
	c := newCLI(t)
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	c.ok("", "keys", "rotate")
	lost := filepath.Join(c.dir, "lost.key")
	t.Setenv("TESSERA_SECRET_KEY_FILE", lost)

	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"tenant create", "", []string{"tenant", "create", "--name", "Lakeside"}},
		{"tenant update", "", []string{"tenant", "update", "--tenant", tenantID, "--mfa", "required"}},
		{"web client", "", []string{"client", "create", "--tenant", tenantID, "--name", "W", "--redirect-uri", "https://a.example/cb"}},
		{"public client", "", []string{"client", "create", "--tenant", tenantID, "--name", "P", "--type", "public", "--redirect-uri", "https://a.example/cb"}},
		{"user create", "a long passphrase", []string{"user", "create", "--tenant", tenantID, "--email", "pat@example.org", "--password-stdin"}},
		{"keys rotate", "", []string{"keys", "rotate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := c.run(tt.stdin, tt.args...)
			if code == 0 || out != "" || !strings.Contains(errs, "TESSERA_SECRET_KEY_FILE") || !strings.Contains(errs, lost) {
				t.Errorf("exit %d, stdout %q, stderr %q; want a failure naming the key file setting", code, out, errs)
			}
		})
	}
	if _, err := os.Stat(lost); !os.IsNotExist(err) {
		t.Errorf("a key file was created for a database that already has sealed keys: %v", err)
	}

	// With the right key back, the same commands succeed: nothing was half-written.
	t.Setenv("TESSERA_SECRET_KEY_FILE", c.key)
	for _, tt := range tests {
		if code, _, errs := c.run(tt.stdin, tt.args...); code != 0 {
			t.Errorf("%s after restoring the key: exit %d: %s", tt.name, code, errs)
		}
	}
	if out := c.ok("", "audit", "verify"); out["ok"] != true {
		t.Errorf("audit verify: %v", out)
	}
}

// TestCLIConfigErrors: a bad setting from any source fails before anything happens, naming the
// key and where the value came from.
func TestCLIConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"env duration", map[string]string{"TESSERA_TOKENS_ACCESS_TOKEN_TTL": "abc"}, []string{"migrate"},
			[]string{"tokens.access_token_ttl", `"abc"`, "TESSERA_TOKENS_ACCESS_TOKEN_TTL"}},
		{"env number", map[string]string{"TESSERA_PASSWORD_MIN_LENGTH": "4"}, []string{"tenant", "create", "--name", "X"},
			[]string{"password.min_length"}},
		{"env log level", map[string]string{"TESSERA_LOG_LEVEL": "loud"}, []string{"keys", "rotate"},
			[]string{"log.level", `"loud"`}},
		{"database flag", nil, []string{"migrate", "--database", "mysql://db/tessera"},
			[]string{"database_url", "sqlite:PATH"}},
		{"config file", nil, []string{"migrate", "--config", "{dir}/tessera.yaml"},
			[]string{"session.idle_ttl", "tessera.yaml"}},
		{"missing config file", nil, []string{"migrate", "--config", "{dir}/absent.yaml"},
			[]string{"config file", "absent.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t)
			if err := os.WriteFile(filepath.Join(c.dir, "tessera.yaml"), []byte("session:\n  idle_ttl: soon\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := slices.Clone(tt.args)
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "{dir}", c.dir)
			}
			if !slices.Contains(args, "--database") {
				args = append(args, "--database", c.db)
			}
			code, out, errs := c.exec("", args...)
			if code == 0 || out != "" {
				t.Errorf("exit %d, stdout %q; want a failure", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not name %q", errs, w)
				}
			}
			if _, err := os.Stat(strings.TrimPrefix(c.db, "sqlite:")); !os.IsNotExist(err) {
				t.Errorf("a bad configuration still touched the database: %v", err)
			}
		})
	}
}

// TestCLIDatabaseFromEnv: TESSERA_DATABASE_URL stands in for --database, and the flag wins.
func TestCLIDatabaseFromEnv(t *testing.T) {
	c := newCLI(t)
	t.Setenv("TESSERA_DATABASE_URL", c.db)
	if code, out, errs := c.exec("", "tenant", "create", "--name", "Riverside Health"); code != 0 || !strings.Contains(out, `"id"`) {
		t.Fatalf("tenant create with the database from the environment: exit %d: %s", code, errs)
	}
	other := "sqlite:" + filepath.Join(c.dir, "other.db")
	if code, _, errs := c.exec("", "practice", "create", "--tenant", "Riverside Health", "--name", "Clinic", "--database", other); code == 0 || !strings.Contains(errs, "unknown tenant") {
		t.Errorf("--database must win over TESSERA_DATABASE_URL: exit %d: %s", code, errs)
	}
	c.ok("", "practice", "create", "--tenant", "Riverside Health", "--name", "Clinic")
}

// TestCLIHelp: asking for help is not an error.
func TestCLIHelp(t *testing.T) {
	newCLI(t)
	tests := []struct {
		args   []string
		stdout string // in stdout
		stderr string // in stderr (the flag package's usage)
	}{
		{nil, "tessera serve", ""},
		{[]string{"help"}, "tessera user create", ""},
		{[]string{"--help"}, "--password-stdin", ""},
		{[]string{"-h"}, "tessera keys rotate", ""},
		{[]string{"tenant", "create", "-h"}, "", "-enforce-from"},
		{[]string{"client", "create", "--help"}, "", "-redirect-uri"},
		{[]string{"user", "create", "-help"}, "", "-password-stdin"},
		{[]string{"serve", "--help"}, "", "-demo"},
		{[]string{"healthcheck", "-h"}, "", "-url"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{"tessera"}, tt.args...), " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			if code != 0 {
				t.Errorf("exit %d, want 0; stderr %q", code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stdout %q, stderr %q; want %q / %q", out.String(), errb.String(), tt.stdout, tt.stderr)
			}
			if strings.Contains(errb.String(), "tessera: ") {
				t.Errorf("help reported an error: %q", errb.String())
			}
		})
	}
}

// TestCLIHealthcheckDown: the container health check fails when nothing answers.
func TestCLIHealthcheckDown(t *testing.T) {
	newCLI(t)
	var out, errb bytes.Buffer
	if code := run([]string{"healthcheck", "--url", "http://127.0.0.1:1/readyz"}, strings.NewReader(""), &out, &errb); code != 1 {
		t.Errorf("healthcheck against nothing: exit %d, want 1; %s", code, errb.String())
	}
}

func TestCLIUnlock(t *testing.T) {
	c := newCLI(t)
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	userID, _ := c.ok("a long passphrase", "user", "create", "--tenant", tenantID, "--email", "pat@example.org", "--password-stdin")["id"].(string)
	st := c.store()
	for range 7 {
		st.MFAFailure(context.Background(), userID, 7)
	}
	if out := c.ok("", "user", "unlock", "--tenant", "Riverside Health", "--email", "PAT@example.org"); out["was_locked"] != true {
		t.Errorf("unlock: %v", out)
	}
	if u, _ := st.UserByID(context.Background(), userID); u.LockedAt != nil || u.MFAFailures != 0 {
		t.Errorf("still locked: %+v", u)
	}
	if out := c.ok("", "user", "unlock", "--tenant", tenantID, "--email", "pat@example.org"); out["was_locked"] != false {
		t.Errorf("second unlock: %v", out)
	}
	if code, _, errs := c.run("", "user", "unlock", "--tenant", tenantID, "--email", "nobody@example.org"); code == 0 || !strings.Contains(errs, "no user") {
		t.Errorf("unknown email: %d %q", code, errs)
	}
	c.ok("", "audit", "verify") // the unlock is in the audit trail, and the chain holds
}
