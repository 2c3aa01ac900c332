package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
)

// cliEnv runs commands in-process against a fresh SQLite database and key file, the way an
// operator runs them.
type cliEnv struct {
	t  *testing.T
	db string
}

func newCLI(t *testing.T) *cliEnv {
	dir := t.TempDir()
	t.Setenv("TESSERA_SECRET_KEY_FILE", filepath.Join(dir, "secret.key"))
	t.Setenv("TESSERA_DATABASE_URL", "sqlite:"+filepath.Join(dir, "t.db"))
	return &cliEnv{t: t, db: "sqlite:" + filepath.Join(dir, "t.db")}
}

// run returns the exit code, stdout and stderr.
func (c *cliEnv) run(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and decodes its JSON output.
func (c *cliEnv) ok(stdin string, args ...string) map[string]any {
	c.t.Helper()
	code, out, errs := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("tessera %v: exit %d: %s", args, code, errs)
	}
	m := map[string]any{}
	if out != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			c.t.Fatalf("tessera %v: output is not one JSON object: %q", args, out)
		}
	}
	return m
}

func TestCLICreates(t *testing.T) {
	c := newCLI(t)
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	if tenantID == "" {
		t.Fatal("tenant create printed no id")
	}
	practice, _ := c.ok("", "practice", "create", "--tenant", "riverside health", "--name", "Main Street Clinic")["id"].(string)

	web := c.ok("", "client", "create", "--tenant", tenantID, "--name", "Portal", "--type", "web",
		"--redirect-uri", "https://portal.example.org/cb", "--post-logout-redirect-uri", "https://portal.example.org/")
	if web["client_id"] == "" || web["client_secret"] == nil || len(web["client_secret"].(string)) < 32 {
		t.Errorf("web client: %v", web)
	}
	pub := c.ok("", "client", "create", "--tenant", "Riverside Health", "--name", "App", "--type", "public",
		"--redirect-uri", "http://127.0.0.1:7000/cb")
	if _, has := pub["client_secret"]; has || pub["client_id"] == "" {
		t.Errorf("public client must have no secret: %v", pub)
	}
	svc := c.ok("", "client", "create", "--tenant", tenantID, "--name", "Lab", "--type", "service")
	if svc["client_secret"] == nil {
		t.Errorf("service client: %v", svc)
	}
	user := c.ok("a long passphrase\n", "user", "create", "--tenant", tenantID, "--email", "pat@example.org",
		"--name", "Pat Smith", "--phone", "+1 202 555 0123", "--role", "patient", "--practice", practice, "--password-stdin")
	if user["id"] == "" {
		t.Error("user create printed no id")
	}
	rot := c.ok("", "keys", "rotate")
	if r, _ := rot["rotated"].([]any); len(r) != 3 {
		t.Errorf("keys rotate: %v", rot)
	}
	c.ok("", "migrate")
	c.ok("", "audit", "verify")
	// Every administrator action is in the audit trail.
	code, out, _ := c.run("", "audit", "export", "--tenant", tenantID)
	for _, ev := range []string{"tenant.created", "client.created", "user.created"} {
		if code != 0 || !strings.Contains(out, `"event":"`+ev+`"`) || !strings.Contains(out, `"actor":"cli"`) {
			t.Errorf("audit export lacks %s: %s", ev, out)
		}
	}
	// MFA, once required, cannot be turned off.
	c.ok("", "tenant", "update", "--tenant", tenantID, "--mfa", "required")
	if code, _, errs := c.run("", "tenant", "update", "--tenant", tenantID, "--mfa", "optional"); code == 0 || !strings.Contains(errs, "cannot be turned off") {
		t.Errorf("turning required MFA off: exit %d %q", code, errs)
	}
}

func TestCLIRefusesBadInput(t *testing.T) {
	c := newCLI(t)
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string // in stderr
	}{
		{"duplicate tenant", "", []string{"tenant", "create", "--name", "riverside health"}, "already exists"},
		{"tenant without name", "", []string{"tenant", "create"}, "--name is required"},
		{"bad mfa", "", []string{"tenant", "create", "--name", "X", "--mfa", "sometimes"}, "off, optional or required"},
		{"bad enforcement date", "", []string{"tenant", "create", "--name", "X", "--enforce-from", "31/03/2027"}, "2027-03-31"},
		{"unknown tenant", "", []string{"client", "create", "--tenant", "Nowhere Clinic", "--name", "P", "--redirect-uri", "https://a.example/cb"}, `unknown tenant "Nowhere Clinic"`},
		{"relative redirect", "", []string{"client", "create", "--tenant", tenantID, "--name", "P", "--redirect-uri", "/cb"}, "not an absolute URL"},
		{"http redirect", "", []string{"client", "create", "--tenant", tenantID, "--name", "P", "--redirect-uri", "http://portal.example.org/cb"}, "only https"},
		{"fragment", "", []string{"client", "create", "--tenant", tenantID, "--name", "P", "--redirect-uri", "https://portal.example.org/cb#x"}, "fragment"},
		{"web client without redirect", "", []string{"client", "create", "--tenant", tenantID, "--name", "P"}, "at least one --redirect-uri"},
		{"service with redirect", "", []string{"client", "create", "--tenant", tenantID, "--name", "S", "--type", "service", "--redirect-uri", "https://a.example/cb"}, "takes no --redirect-uri"},
		{"bad client type", "", []string{"client", "create", "--tenant", tenantID, "--name", "P", "--type", "spa", "--redirect-uri", "https://a.example/cb"}, "web, public or service"},
		{"bad email", "a long passphrase", []string{"user", "create", "--tenant", tenantID, "--email", "pat at example", "--password-stdin"}, "not a valid email"},
		{"bad role", "a long passphrase", []string{"user", "create", "--tenant", tenantID, "--email", "p@example.org", "--role", "doctor", "--password-stdin"}, "patient, provider, staff or admin"},
		{"no password-stdin", "", []string{"user", "create", "--tenant", tenantID, "--email", "p@example.org"}, "--password-stdin is required"},
		{"short password", "short", []string{"user", "create", "--tenant", tenantID, "--email", "p@example.org", "--password-stdin"}, "too short"},
		{"bad phone", "a long passphrase", []string{"user", "create", "--tenant", tenantID, "--email", "p@example.org", "--phone", "12", "--password-stdin"}, "not a valid phone number"},
		{"unknown practice", "a long passphrase", []string{"user", "create", "--tenant", tenantID, "--email", "p@example.org", "--practice", "Nowhere", "--password-stdin"}, `unknown practice "Nowhere"`},
		{"unknown command", "", []string{"frobnicate"}, "unknown command"},
		{"bad alg", "", []string{"keys", "rotate", "--alg", "HS256"}, "ES256, RS256 or EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := c.run(tt.stdin, tt.args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stderr %q; want failure mentioning %q", code, errs, tt.want)
			}
			if out != "" {
				t.Errorf("a failed command printed to stdout: %q", out)
			}
		})
	}
	// Nothing half-written: the duplicate email is refused and the first user remains.
	c.ok("a long passphrase", "user", "create", "--tenant", tenantID, "--email", "Sam@Example.org", "--password-stdin")
	if code, _, errs := c.run("another passphrase", "user", "create", "--tenant", tenantID, "--email", "sam@example.ORG", "--password-stdin"); code == 0 || !strings.Contains(errs, "already has a user") {
		t.Errorf("duplicate email (other case): exit %d %q", code, errs)
	}
}

func TestCLIConfigErrorsNameTheKey(t *testing.T) {
	c := newCLI(t)
	t.Setenv("TESSERA_TOKENS_ACCESS_TOKEN_TTL", "abc")
	code, _, errs := c.run("", "migrate")
	if code == 0 || !strings.Contains(errs, "tokens.access_token_ttl") {
		t.Errorf("exit %d, stderr %q; want the key named", code, errs)
	}
	code, out, _ := c.run("", "help")
	if code != 0 || !strings.Contains(out, "tessera serve") {
		t.Errorf("help: exit %d", code)
	}
}

func TestCLIUnlock(t *testing.T) {
	c := newCLI(t)
	tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
	userID, _ := c.ok("a long passphrase", "user", "create", "--tenant", tenantID, "--email", "pat@example.org", "--password-stdin")["id"].(string)
	st, err := store.Open("sqlite", strings.TrimPrefix(c.db, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 7 {
		st.MFAFailure(context.Background(), userID, 7)
	}
	if out := c.ok("", "user", "unlock", "--tenant", "Riverside Health", "--email", "PAT@example.org"); out["was_locked"] != true {
		t.Errorf("unlock: %v", out)
	}
	if u, _ := st.UserByID(context.Background(), userID); u.LockedAt != nil || u.MFAFailures != 0 {
		t.Errorf("still locked: %+v", u)
	}
	if code, _, errs := c.run("", "user", "unlock", "--tenant", tenantID, "--email", "nobody@example.org"); code == 0 || !strings.Contains(errs, "no user") {
		t.Errorf("unknown email: %d %q", code, errs)
	}
	c.ok("", "audit", "verify") // the unlock is in the audit trail, and the chain holds
}
