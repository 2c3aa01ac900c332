package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/tessera-health/tessera/internal/factor/totp"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/store"
)

// maxImportLine bounds one line of an import file (without its line break). A longer line is
// reported as bad and skipped; it never grows a buffer.
const maxImportLine = 64 << 10

// userImport reads people from another system as JSON lines on stdin and writes each good line
// in one transaction (the person, their phone and their authenticator app), so a portal can move
// to Tessera without its patients enrolling again. Bad lines are reported on stderr as
// "line N: reason" and nothing of them is written; the good lines are imported all the same.
// stdout gets {"imported": n, "failed": m, "skipped": k}; the exit status is 1 when any line
// failed.
func userImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("user import", stderr)
	var ref string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	box, err := c.box(ctx, st) // no change that could not be audited
	if err != nil {
		return err
	}
	opts := serverOptions(c.cfg, nil)
	im := &importer{
		c: c, st: st, tenant: t, box: box,
		parser:    lineParser{hasher: password.New(opts.Password, opts.MaxConcurrentHashes), region: t.PhoneRegion},
		seen:      map[string]int{},
		practices: map[string]*string{},
		stderr:    stderr,
	}
	fatal := im.run(ctx, stdin)
	// The summary is audited and printed even when the import stopped early, so the operator
	// knows what was written.
	result := "ok"
	if im.failed > 0 || fatal != nil {
		result = "partial"
	}
	auditErr := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "user.import", Result: result,
		Detail: fmt.Sprintf("imported=%d failed=%d skipped=%d", im.imported, im.failed, im.skipped)})
	if err := printJSON(stdout, map[string]int{"imported": im.imported, "failed": im.failed, "skipped": im.skipped}); err != nil {
		return err
	}
	switch {
	case fatal != nil:
		return fatal
	case auditErr != nil:
		return auditErr
	case im.failed > 0:
		return fmt.Errorf("%d of %d lines were not imported (reasons above); the others were", im.failed, im.failed+im.imported)
	}
	return nil
}

// importer holds one run's state: counts, the emails already seen in the file, and the
// practices already looked up.
type importer struct {
	c      *command
	st     *store.Store
	tenant *store.Tenant
	box    totp.Sealer
	parser lineParser
	stderr io.Writer

	seen      map[string]int     // lower-case email → the first line that had it
	practices map[string]*string // --practice reference → id (nil: no such practice)

	imported, failed, skipped int
}

// run imports every line of r. It returns an error only for what stops the whole import (a
// database or audit failure, an interrupt, an unreadable input); a bad line is counted and
// reported, never returned.
func (im *importer) run(ctx context.Context, r io.Reader) error {
	lr := newLineReader(r)
	for {
		line, n, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the input after line %d: %w", n-1, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before line %d: %w", n, err)
		}
		if tooLong {
			im.bad(n, fmt.Errorf("longer than %d KiB", maxImportLine>>10))
			continue
		}
		if blankOrComment(line) {
			im.skipped++
			continue
		}
		rec, err := im.parser.parse(line)
		if rec != nil && rec.user.Email != "" {
			// Every line that names a valid address claims it, good or bad: a second line for the
			// same person is ambiguous whatever happened to the first.
			key := strings.ToLower(rec.user.Email)
			if first, dup := im.seen[key]; dup {
				im.bad(n, fmt.Errorf("the same email as line %d; not imported (a line never overwrites another)", first))
				continue
			}
			im.seen[key] = n
		}
		if err != nil {
			im.bad(n, err)
			continue
		}
		if err := im.write(ctx, rec); err != nil {
			var be badLine
			var ae auditFailure
			switch {
			case errors.As(err, &be):
				im.bad(n, be.err)
				continue
			case errors.As(err, &ae):
				fmt.Fprintf(im.stderr, "line %d: imported, but its audit event could not be written\n", n)
				return fmt.Errorf("stopped after line %d: no further change that could not be audited: %w", n, ae.err)
			}
			im.failed++
			fmt.Fprintf(im.stderr, "line %d: not imported: %v\n", n, err)
			return fmt.Errorf("stopped at line %d: %w", n, err)
		}
	}
}

// badLine marks a write-stage refusal that concerns only this line (the import goes on).
type badLine struct{ err error }

func (b badLine) Error() string { return b.err.Error() }

// auditFailure is a line that was imported but could not be audited: the import stops there.
type auditFailure struct{ err error }

func (a auditFailure) Error() string { return a.err.Error() }

func (im *importer) bad(n int, err error) {
	im.failed++
	fmt.Fprintf(im.stderr, "line %d: %v\n", n, err)
}

// write stores one validated line: the checks that need the database, then the person and
// their authenticator in one transaction, then the audit event.
func (im *importer) write(ctx context.Context, rec *importRecord) error {
	u := rec.user
	u.TenantID = im.tenant.ID
	if rec.practice != "" {
		id, err := im.practice(ctx, rec.practice)
		if err != nil {
			return err
		}
		if id == nil {
			return badLine{fmt.Errorf("practice: tenant %q has no practice with that id or name (create it with `tessera practice create`)", im.tenant.Name)}
		}
		u.PracticeID = id
	}
	exists := badLine{errors.New("a user with this email already exists in the tenant; not imported (existing people are never overwritten)")}
	if _, err := im.st.UserByEmail(ctx, im.tenant.ID, u.Email); err == nil {
		return exists
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var f *store.Factor
	if rec.totpSecret != "" {
		var err error
		if f, err = totp.Imported(im.box, rec.totpSecret, rec.totpLabel); err != nil {
			return badLine{fmt.Errorf("totp_secret: %w", err)} // parse already checked it
		}
	}
	// A verified mobile keeps working for texted codes: the old portal already proved it.
	var sms *store.Factor
	if u.Phone != "" && u.PhoneVerified && phone.CheckSMS(phone.LineType(u.PhoneLineType)) == nil {
		sms = &store.Factor{Kind: "sms", Label: u.Phone, Active: true, IsDefault: f == nil}
	}
	if err := im.st.ImportUser(ctx, u, f, sms); errors.Is(err, store.ErrConflict) {
		return exists // created since the check above
	} else if err != nil {
		return err
	}
	im.imported++
	if err := im.c.record(ctx, im.st, &store.AuditEvent{TenantID: im.tenant.ID, Event: "user.imported",
		SubjectID: u.ID, Detail: rec.detail()}); err != nil {
		return auditFailure{err}
	}
	return nil
}

func (im *importer) practice(ctx context.Context, ref string) (*string, error) {
	if id, ok := im.practices[ref]; ok {
		return id, nil
	}
	p, err := im.st.PracticeByRef(ctx, im.tenant.ID, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		im.practices[ref] = nil
		return nil, nil
	case err != nil:
		return nil, err
	}
	im.practices[ref] = &p.ID
	return &p.ID, nil
}

// importLine is one line of the file as written. Every field but email is optional.
type importLine struct {
	Email         string `json:"email"`
	Name          string `json:"name"`
	Role          string `json:"role"`
	Practice      string `json:"practice"`
	Locale        string `json:"locale"`
	PasswordHash  string `json:"password_hash"`
	Phone         string `json:"phone"`
	PhoneVerified bool   `json:"phone_verified"`
	TOTPSecret    string `json:"totp_secret"`
	TOTPLabel     string `json:"totp_label"`
}

// importRecord is a line that passed every check that needs no database.
type importRecord struct {
	user       *store.User // without tenant or practice
	practice   string      // the practice's id or name, resolved at write time
	totpSecret string      // canonical base32 (totp.ParseSecret)
	totpLabel  string
}

// detail is the audit event's summary of what came with the person; never a secret.
func (r *importRecord) detail() string {
	hash := "none"
	switch {
	case strings.HasPrefix(r.user.PasswordHash, "$argon2id$"):
		hash = "argon2id"
	case r.user.PasswordHash != "":
		hash = "bcrypt"
	}
	ph := "none"
	switch {
	case r.user.Phone != "" && r.user.PhoneVerified:
		ph = "verified"
	case r.user.Phone != "":
		ph = "unverified"
	}
	return fmt.Sprintf("role=%s password=%s phone=%s totp=%t", r.user.Role, hash, ph, r.totpSecret != "")
}

// lineParser checks a line on its own. hasher decides which password hashes are usable (the
// same limits the sign-in applies); region is the default for numbers without a country code.
type lineParser struct {
	hasher *password.Hasher
	region string
}

// Bounds on free text, so one line cannot fill a profile page or the account console.
const (
	maxNameLen  = 200
	maxLabelLen = 64
	maxEmailLen = 254 // RFC 5321's limit for a path
)

// parse reads and checks one line. The record is returned whenever the email is valid, even
// with an error, so the caller can notice a repeated address; errors never repeat a secret.
func (p *lineParser) parse(line []byte) (*importRecord, error) {
	var in importLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value on the line: write one object per line")
	}
	email := strings.TrimSpace(in.Email)
	switch {
	case email == "":
		return nil, errors.New("email is required")
	case len(email) > maxEmailLen || validEmail(email) != nil:
		return nil, errors.New("email: not a valid email address (example: pat@example.org)")
	}
	u := &store.User{Email: email, Name: strings.TrimSpace(in.Name), PasswordHash: in.PasswordHash, PhoneVerified: in.PhoneVerified}
	rec := &importRecord{user: u, practice: strings.TrimSpace(in.Practice), totpLabel: strings.TrimSpace(in.TOTPLabel)}
	if utf8.RuneCountInString(u.Name) > maxNameLen {
		return rec, fmt.Errorf("name: longer than %d characters", maxNameLen)
	}
	u.GivenName, u.FamilyName = store.SplitName(u.Name)
	u.Role = strings.ToLower(strings.TrimSpace(in.Role))
	if u.Role == "" {
		u.Role = store.RolePatient
	}
	if !slices.Contains(store.Roles, u.Role) {
		return rec, errors.New("role: use patient, provider, staff or admin")
	}
	if l := strings.TrimSpace(in.Locale); l != "" {
		tag, err := language.Parse(l)
		if err != nil {
			return rec, errors.New("locale: not a language tag (for example en, es or es-MX)")
		}
		u.Locale = tag.String()
	}
	if u.PasswordHash != "" {
		if err := p.hasher.Check(u.PasswordHash); err != nil {
			return rec, fmt.Errorf("password_hash: not an argon2id or bcrypt hash Tessera can verify (%s); a password itself is never accepted",
				strings.TrimPrefix(err.Error(), "password: "))
		}
	}
	if in.Phone != "" {
		n, err := phone.Parse(in.Phone, p.region)
		if err != nil {
			return rec, fmt.Errorf("phone: %v", err)
		}
		u.Phone, u.PhoneLineType = n.E164, string(n.LineType)
	} else if in.PhoneVerified {
		return rec, errors.New("phone_verified is true but there is no phone")
	}
	if in.TOTPSecret != "" {
		s, err := totp.ParseSecret(in.TOTPSecret)
		if err != nil {
			return rec, fmt.Errorf("totp_secret: %s", strings.TrimPrefix(err.Error(), "totp: "))
		}
		rec.totpSecret = s
	} else if rec.totpLabel != "" {
		return rec, errors.New("totp_label without totp_secret")
	}
	if utf8.RuneCountInString(rec.totpLabel) > maxLabelLen {
		return rec, fmt.Errorf("totp_label: longer than %d characters", maxLabelLen)
	}
	return rec, nil
}

// jsonError explains a decoding error in the file's terms (field names as written, never the
// Go types, never a value).
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		want := "text"
		if te.Type != nil && te.Type.Kind() == reflect.Bool {
			want = "true or false"
		}
		return fmt.Errorf("%s: want %s, not a JSON %s", te.Field, want, te.Value)
	case errors.As(err, &te):
		return fmt.Errorf("not a JSON object (found a JSON %s)", te.Value)
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not valid JSON (the line ends inside the object)")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s (the fields are email, name, role, practice, locale, password_hash, phone, phone_verified, totp_secret, totp_label)",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("not valid JSON: %v", err)
}

// blankOrComment reports whether a line is skipped: only white space, or a # comment.
func blankOrComment(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#'
}

// lineReader reads lines of at most maxImportLine bytes from a stream, numbering them from 1,
// without ever holding more than one line: a longer line is reported (tooLong) and skipped to
// its end. "\n" and "\r\n" both end a line, and a UTF-8 byte order mark before the first line
// is ignored.
type lineReader struct {
	r *bufio.Reader
	n int
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, maxImportLine+2)} // + "\r\n"
}

// next returns the next line (valid until the following call) and its number; io.EOF after the
// last one.
func (lr *lineReader) next() (line []byte, n int, tooLong bool, err error) {
	line, err = lr.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		tooLong = true
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = lr.r.ReadSlice('\n')
		}
		line = nil
	}
	if errors.Is(err, io.EOF) && (len(line) > 0 || tooLong) {
		err = nil // a last line without a line break
	}
	if err != nil {
		return nil, lr.n + 1, false, err
	}
	lr.n++
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if lr.n == 1 {
		line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
	}
	if len(line) > maxImportLine {
		return nil, lr.n, true, nil
	}
	return line, lr.n, tooLong, nil
}
