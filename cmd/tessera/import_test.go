package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	otptotp "github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// eachImportBackend runs fn against an installation on SQLite and, when
// TESSERA_TEST_POSTGRES_URL is set, on a scratch PostgreSQL database (skipped with a message
// otherwise).
func eachImportBackend(t *testing.T, fn func(t *testing.T, c *cliEnv)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			if name == "postgres" {
				c.db = storetest.ScratchPostgres(t)
			}
			fn(t, c)
		})
	}
}

// openStore opens the installation's database, whichever backend it is on.
func (c *cliEnv) openStore() *store.Store {
	c.t.Helper()
	if strings.HasPrefix(c.db, "sqlite:") {
		return c.store()
	}
	st, err := store.Open("postgres", c.db)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	return st
}

// importResult runs `user import` and decodes its one JSON object.
func (c *cliEnv) importFile(tenant, file string) (code int, counts map[string]any, stderr string) {
	c.t.Helper()
	code, out, errs := c.run(file, "user", "import", "--tenant", tenant)
	return code, decodeOne(c.t, out), errs
}

var lineRe = regexp.MustCompile(`(?m)^line (\d+): (.*)$`)

// badLines maps each reported line number to its reason.
func badLines(stderr string) map[int]string {
	m := map[int]string{}
	for _, g := range lineRe.FindAllStringSubmatch(stderr, -1) {
		n, _ := strconv.Atoi(g[1])
		m[n] = g[2]
	}
	return m
}

const importedSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" // 160 bits, as the old portal's app holds it

// TestCLIImport is a migration from an old portal: a file of good and bad lines. Good lines are
// written whole (password hash verbatim, phone in E.164 with its verification, the
// authenticator active and working); each bad line is reported with its number and leaves no
// trace; an existing person is never touched; and everything is audited.
func TestCLIImport(t *testing.T) {
	eachImportBackend(t, func(t *testing.T, c *cliEnv) {
		ctx := context.Background()
		tenantID, _ := c.ok("", "tenant", "create", "--name", "Riverside Health")["id"].(string)
		practiceID, _ := c.ok("", "practice", "create", "--tenant", tenantID, "--name", "Main Street Clinic")["id"].(string)
		existingID, _ := c.ok("existing passphrase", "user", "create", "--tenant", tenantID, "--email", "existing@example.org",
			"--name", "Existing Person", "--password-stdin")["id"].(string)

		bc, _ := bcrypt.GenerateFromPassword([]byte("legacy bcrypt pw"), bcrypt.MinCost)
		argon, _ := password.New(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1).Hash(ctx, "legacy argon pw")
		lowerGrouped := strings.ToLower(totp.Group(importedSecret))

		type imported struct {
			email, name, role, phone, locale, hash, totpLabel string
			phoneVerified, practice                           bool
		}
		lines := []struct {
			text string
			want string    // "" imported, "#" skipped, else in the reason on stderr
			user *imported // what an imported line must have written
		}{
			{text: "# exported from the old portal on 2027-03-01", want: "#"},
			{text: fmt.Sprintf(`{"email": "Pat.Smith@example.org", "name": "Pat Q Smith", "role": "patient", "practice": "Main Street Clinic", "locale": "es-mx", "password_hash": %q, "phone": "(202) 555-0123", "phone_verified": true, "totp_secret": %q, "totp_label": "Old portal app"}`, bc, lowerGrouped),
				user: &imported{email: "Pat.Smith@example.org", name: "Pat Q Smith", role: "patient", phone: "+12025550123", phoneVerified: true,
					locale: "es-MX", hash: string(bc), totpLabel: "Old portal app", practice: true}},
			{text: "", want: "#"},
			{text: fmt.Sprintf(`{"email": "lee@example.org", "role": "provider", "password_hash": %q, "phone": "+44 20 7946 0958"}`, argon),
				user: &imported{email: "lee@example.org", role: "provider", phone: "+442079460958", hash: argon}},
			{text: "   \t", want: "#"},
			{text: `{"email": "nopassword@example.org", "role": "STAFF"}`, user: &imported{email: "nopassword@example.org", role: "staff"}},
			{text: `{"email": "shortsecret@example.org", "totp_secret": "JBSWY3DPEHPK3PA"}`, want: "totp_secret: unusable secret: 72 bits, fewer than the 80 required"},
			{text: `{"email": "badsecret@example.org", "totp_secret": "not-a-secret-0189"}`, want: "totp_secret: unusable secret: not base32"},
			{text: `{"email": "plaintext@example.org", "password_hash": "hunter2-plaintext"}`, want: "password_hash: not an argon2id or bcrypt hash"},
			{text: `{"email": "costly@example.org", "password_hash": "$2a$17$` + string(bc[7:]) + `"}`, want: "bcrypt cost 17 is beyond the limit"},
			{text: `{"email": "plainfield@example.org", "password": "hunter2-plaintext"}`, want: `unknown field "password"`},
			{text: `{"email": "badphone@example.org", "phone": "555"}`, want: "phone: This is not a valid phone number"},
			{text: `{"email": "unverifiable@example.org", "phone_verified": true}`, want: "phone_verified is true but there is no phone"},
			{text: `{"email": "doctor@example.org", "role": "doctor"}`, want: "role: use patient, provider, staff or admin"},
			{text: `{"email": "nowhere@example.org", "practice": "Nowhere Clinic"}`, want: "practice: tenant \"Riverside Health\" has no practice"},
			{text: `{"email": "label@example.org", "totp_label": "Phone"}`, want: "totp_label without totp_secret"},
			{text: `{"email": "PAT.SMITH@example.org", "name": "Someone Else"}`, want: "the same email as line 2; not imported"},
			{text: `{"email": "Existing@Example.org", "name": "Imported Over", "role": "admin", "password_hash": "` + argon + `"}`,
				want: "a user with this email already exists in the tenant; not imported (existing people are never overwritten)"},
			{text: `{"email": "Pat Smith <pat@example.org>"}`, want: "email: not a valid email address"},
			{text: `{"name": "No Email"}`, want: "email is required"},
			{text: `{"email": "broken@example.org"`, want: "not valid JSON"},
			{text: `{"email": "two@example.org"} {"email": "values@example.org"}`, want: "more than one JSON value"},
			{text: `["array@example.org"]`, want: "not a JSON object"},
			{text: `{"email": "typed@example.org", "phone_verified": "yes"}`, want: "phone_verified: want true or false"},
			{text: `{"email": "late@example.org", "phone": "202-555-0199"}`, user: &imported{email: "late@example.org", role: "patient", phone: "+12025550199"}},
		}
		var file strings.Builder
		wantBad := map[int]string{}
		var wantImported, wantSkipped int
		for i, l := range lines {
			file.WriteString(l.text + "\n")
			switch l.want {
			case "":
				wantImported++
			case "#":
				wantSkipped++
			default:
				wantBad[i+1] = l.want
			}
		}

		code, counts, stderr := c.importFile("Riverside Health", file.String())
		if code != 1 {
			t.Errorf("exit %d, want 1 (some lines failed)", code)
		}
		want := map[string]any{"imported": float64(wantImported), "failed": float64(len(wantBad)), "skipped": float64(wantSkipped)}
		if !mapsEqual(counts, want) {
			t.Errorf("stdout = %v, want %v", counts, want)
		}
		got := badLines(stderr)
		for n, reason := range wantBad {
			if !strings.Contains(got[n], reason) {
				t.Errorf("line %d: reported %q, want %q", n, got[n], reason)
			}
		}
		for n := range got {
			if _, ok := wantBad[n]; !ok {
				t.Errorf("line %d reported as bad but is good: %q", n, got[n])
			}
		}
		for _, s := range []string{importedSecret[:16], lowerGrouped[:9], "JBSWY3DPEHPK3PA", string(bc[7:30]), argon[30:], "hunter2"} {
			if strings.Contains(stderr, s) {
				t.Errorf("stderr repeats a secret or hash (%q):\n%s", s, stderr)
			}
		}

		st := c.openStore()
		key, err := secret.LoadOrCreateKey(c.key, false)
		if err != nil {
			t.Fatal(err)
		}
		box, _ := secret.NewBox(key)
		for i, l := range lines {
			var email string
			if err := json.Unmarshal([]byte(l.text), &struct {
				Email *string `json:"email"`
			}{&email}); err != nil || email == "" || l.user != nil || l.want == "#" {
				continue
			}
			if strings.EqualFold(email, "pat.smith@example.org") || strings.EqualFold(email, "existing@example.org") {
				continue // duplicates of a person who does exist: checked below
			}
			if u, err := st.UserByEmail(ctx, tenantID, email); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("line %d (%s) was refused but wrote a user: %+v %v", i+1, email, u, err)
			}
		}
		for _, l := range lines {
			w := l.user
			if w == nil {
				continue
			}
			u, err := st.UserByEmail(ctx, tenantID, w.email)
			if err != nil {
				t.Errorf("%s was not imported: %v", w.email, err)
				continue
			}
			if u.Email != w.email || u.Name != w.name || u.Role != w.role || u.Phone != w.phone || u.PhoneVerified != w.phoneVerified ||
				u.Locale != w.locale || u.PasswordHash != w.hash || (u.PracticeID != nil) != w.practice ||
				(w.practice && *u.PracticeID != practiceID) || u.EmailVerified {
				t.Errorf("%s imported as %+v, want %+v", w.email, u, w)
			}
			fs, _ := st.ActiveFactors(ctx, u.ID)
			// A verified mobile keeps texted codes working; it is the default only without an app.
			var sms []store.Factor
			fs = slices.DeleteFunc(fs, func(f store.Factor) bool {
				if f.Kind == "sms" {
					sms = append(sms, f)
					return true
				}
				return false
			})
			wantSMS := w.phone != "" && w.phoneVerified
			if wantSMS != (len(sms) == 1) || (wantSMS && (sms[0].Label != w.phone || sms[0].IsDefault != (w.totpLabel == ""))) {
				t.Errorf("%s: SMS factors %+v, want one for a verified mobile (default without an app)", w.email, sms)
			}
			if w.totpLabel == "" {
				if len(fs) != 0 {
					t.Errorf("%s has factors without a totp_secret: %+v", w.email, fs)
				}
				continue
			}
			if len(fs) != 1 || fs[0].Kind != "totp" || !fs[0].IsDefault || fs[0].Label != w.totpLabel ||
				bytes.Contains(fs[0].SecretSealed, []byte(importedSecret)) {
				t.Fatalf("%s: factors %+v, want one active, default, sealed authenticator", w.email, fs)
			}
			// The secret was sealed with the installation's key, bound to the row, as Begin does:
			// the code the person's app shows now is accepted, once.
			code, _ := otptotp.GenerateCodeCustom(importedSecret, time.Now(), otptotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			v := totp.New(st, box)
			if err := v.Verify(ctx, &fs[0], code); err != nil {
				t.Errorf("a code from the imported secret: %v", err)
			}
			if err := v.Verify(ctx, &fs[0], code); err == nil {
				t.Error("the same code was accepted twice")
			}
		}
		if u, _ := st.UserByEmail(ctx, tenantID, "pat.smith@example.org"); u.Name != "Pat Q Smith" {
			t.Errorf("the in-file duplicate overwrote the first line: %+v", u)
		}
		if u, _ := st.UserByID(ctx, existingID); u.Name != "Existing Person" || u.Role != store.RolePatient ||
			!strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456") {
			t.Errorf("the existing person changed: %+v", u)
		}
		if fs, _ := st.ActiveFactors(ctx, existingID); len(fs) != 0 {
			t.Errorf("the existing person got factors: %+v", fs)
		}

		// One audit event per person (actor cli), one summary, and the chain holds.
		events, err := st.AuditEvents(ctx, tenantID, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		var perUser, summaries int
		for _, e := range events {
			switch e.Event {
			case "user.imported":
				perUser++
				if e.ActorID != "cli" || e.SubjectID == "" || !strings.HasPrefix(e.Detail, "role=") {
					t.Errorf("audit event %+v", e)
				}
			case "user.import":
				summaries++
				wantDetail := fmt.Sprintf("imported=%d failed=%d skipped=%d", wantImported, len(wantBad), wantSkipped)
				if e.ActorID != "cli" || e.Result != "partial" || e.Detail != wantDetail {
					t.Errorf("summary event %+v, want detail %q", e, wantDetail)
				}
			}
		}
		if perUser != wantImported || summaries != 1 {
			t.Errorf("%d user.imported and %d user.import events; want %d and 1", perUser, summaries, wantImported)
		}
		c.ok("", "audit", "verify")

		// Running the same file again imports nobody and changes nobody.
		code, counts, stderr = c.importFile(tenantID, file.String())
		want = map[string]any{"imported": 0.0, "failed": float64(len(wantBad) + wantImported), "skipped": float64(wantSkipped)}
		if code != 1 || !mapsEqual(counts, want) {
			t.Errorf("second run: exit %d %v, want 1 %v", code, counts, want)
		}
		if got := badLines(stderr)[2]; !strings.Contains(got, "already exists") {
			t.Errorf("second run, line 2: %q", got)
		}
		if u, _ := st.UserByEmail(ctx, tenantID, "pat.smith@example.org"); u.PasswordHash != string(bc) {
			t.Error("the second run changed an imported person")
		}
	})
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCLIImportFile: how the file is read. Every good line counts, exit 0 only when nothing
// failed, line numbers count every physical line, over-long lines are bad lines (never a crash
// or a giant buffer), and CRLF, a byte order mark and a missing last line break are fine.
func TestCLIImportFile(t *testing.T) {
	exact := `{"email": "exact@example.org"` // padded with spaces to exactly maxImportLine bytes
	exact += strings.Repeat(" ", maxImportLine-len(exact)-1) + "}"
	tests := []struct {
		name                      string
		file                      string
		code                      int
		imported, failed, skipped int
		bad                       []int
	}{
		{"all good", "{\"email\": \"a@example.org\"}\n{\"email\": \"b@example.org\"}\n", 0, 2, 0, 0, nil},
		{"empty input", "", 0, 0, 0, 0, nil},
		{"only comments", "# nothing yet\n\n", 0, 0, 0, 2, nil},
		{"CRLF, BOM, no final newline", "\xEF\xBB\xBF{\"email\": \"a@example.org\"}\r\n# c\r\n{\"email\": \"b@example.org\"}", 0, 2, 0, 1, nil},
		{"exactly the limit", exact + "\n", 0, 1, 0, 0, nil},
		{"one byte over", exact + " \n{\"email\": \"after@example.org\"}\n", 1, 1, 1, 0, []int{1}},
		{"a megabyte, then more", "{\"email\": \"a@example.org\"}\n{\"name\": \"" + strings.Repeat("x", 1<<20) + "\"}\n\n{\"email\": \"b@example.org\"}\n", 1, 2, 1, 1, []int{2}},
		{"over-long last line", "{\"email\": \"a@example.org\"}\n" + strings.Repeat("y", 100<<10), 1, 1, 1, 0, []int{2}},
	}
	eachImportBackend(t, func(t *testing.T, c *cliEnv) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tenant := fmt.Sprintf("Tenant %d", i)
				c.ok("", "tenant", "create", "--name", tenant)
				code, counts, stderr := c.importFile(tenant, tt.file)
				want := map[string]any{"imported": float64(tt.imported), "failed": float64(tt.failed), "skipped": float64(tt.skipped)}
				if code != tt.code || !mapsEqual(counts, want) {
					t.Errorf("exit %d %v, want %d %v; stderr:\n%s", code, counts, tt.code, want, stderr)
				}
				var got []int
				for n := range badLines(stderr) {
					got = append(got, n)
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.bad) {
					t.Errorf("bad lines %v, want %v", got, tt.bad)
				}
				if tt.code == 0 && stderr != "" {
					t.Errorf("a clean import wrote to stderr: %q", stderr)
				}
				if len(stderr) > 4096 {
					t.Errorf("stderr is %d bytes: an over-long line was echoed", len(stderr))
				}
			})
		}
	})
}

// TestCLIImportUsage: the command's own mistakes exit before reading anything.
func TestCLIImportUsage(t *testing.T) {
	c := newCLI(t)
	if code, out, errs := c.run(`{"email": "a@example.org"}`, "user", "import"); code != 2 || out != "" || !strings.Contains(errs, "--tenant is required") {
		t.Errorf("without --tenant: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := c.run(`{"email": "a@example.org"}`, "user", "import", "--tenant", "Nowhere"); code != 1 || out != "" || !strings.Contains(errs, `unknown tenant "Nowhere"`) {
		t.Errorf("unknown tenant: exit %d %q %q", code, out, errs)
	}
}

// FuzzImportLine feeds the reader and the line parser whatever a file could hold: no panic,
// line numbers without gaps, and whatever is accepted is something Tessera can store and use.
func FuzzImportLine(f *testing.F) {
	bc := "$2a$04$" + strings.Repeat("a", 53)
	for _, s := range []string{
		`{"email": "pat@example.org"}`,
		`{"email": "pat@example.org", "name": "Pat Smith", "role": "provider", "practice": "Main", "locale": "es-MX", "password_hash": "` + bc + `", "phone": "+1 202 555 0123", "phone_verified": true, "totp_secret": "jbsw y3dp ehpk 3pxp", "totp_label": "App"}`,
		`{"email": "pat@example.org", "password_hash": "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}`,
		"# comment\n\n{\"email\": \"a@b.org\"}\r\n\xEF\xBB\xBF{}",
		`{"email": null, "phone_verified": null}`, `[]`, `"x"`, `{"email": "a@b.org"} trailing`, `{"email": "\u0000@b.org"}`,
		`{"email": "a@b.org", "totp_secret": "====", "locale": "x-private"}`,
	} {
		f.Add([]byte(s))
	}
	p := lineParser{hasher: password.New(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1), region: "US"}
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := newLineReader(bytes.NewReader(data))
		for want := 1; ; want++ {
			line, n, tooLong, err := lr.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Fatalf("line number %d, want %d", n, want)
			}
			if tooLong || blankOrComment(line) {
				continue
			}
			if len(line) > maxImportLine {
				t.Fatalf("a line of %d bytes got through", len(line))
			}
			rec, err := p.parse(line)
			if err != nil {
				continue
			}
			u := rec.user
			if validEmail(u.Email) != nil || !slices.Contains(store.Roles, u.Role) ||
				(u.Phone != "" && !strings.HasPrefix(u.Phone, "+")) || (u.PhoneVerified && u.Phone == "") ||
				(u.PasswordHash != "" && p.hasher.Check(u.PasswordHash) != nil) {
				t.Fatalf("accepted %q as %+v", line, u)
			}
			if rec.totpSecret != "" {
				if s, err := totp.ParseSecret(rec.totpSecret); err != nil || s != rec.totpSecret {
					t.Fatalf("accepted secret is not canonical: %v", err)
				}
			}
		}
	})
}
