package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/authn"
	"github.com/tessera-health/tessera/internal/keys"
	"github.com/tessera-health/tessera/internal/oidcop"
	"github.com/tessera-health/tessera/internal/password"
	"github.com/tessera-health/tessera/internal/phone"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
)

func migrate(ctx context.Context, args []string, stderr io.Writer) error {
	c := newCommand("migrate", stderr)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(stderr, "tessera: database is up to date")
	return nil
}

// tenantPolicy holds the policy flags tenant create and update share.
type tenantPolicy struct {
	mfa, enforceFrom, phoneRegion, selfRegistration         string
	rememberDays, rememberNetwork, rememberMFA, patientsOff string
	passkeyDays                                             string
	helpContact                                             string
	passkeyAttestation                                      string
	passkeyAAGUIDs                                          multi
	smsMinutes, emailMinutes, patientFactors                string
}

// maxRememberDays bounds --remember-device-days (a year; the seeds ask for 7).
const maxRememberDays = admin.MaxRememberDays

func (p *tenantPolicy) register(c *command) {
	c.fs.StringVar(&p.mfa, "mfa", "", "MFA for every practice of the tenant: off, optional or required (default optional)")
	c.fs.StringVar(&p.enforceFrom, "enforce-from", "", "date (YYYY-MM-DD) from which sign-in forces MFA enrollment")
	c.fs.StringVar(&p.phoneRegion, "phone-region", "", "region (ISO 3166, e.g. US, GB) for phone numbers typed without a country code (default US)")
	c.fs.StringVar(&p.selfRegistration, "self-registration", "", "on lets people create their own accounts at /register (default off)")
	c.fs.StringVar(&p.rememberDays, "remember-device-days", "", "days \"Don't ask for a code on this device\" lasts; 0 turns the checkbox off (default 7)")
	c.fs.StringVar(&p.rememberNetwork, "remember-device-network", "", "how closely a remembered device is tied to its address: exact, prefix (IPv4 /24, IPv6 /56) or off (default exact)")
	c.fs.StringVar(&p.rememberMFA, "remember-device-mfa", "", "on: a sign-in on a remembered device counts as multi-factor (amr rmd); off: the code is asked anyway (default on)")
	c.fs.StringVar(&p.passkeyDays, "passkey-mfa-days", "", "days passkey-only sign-ins count as multi-factor after the last code or app check (0 to 365; default 90)")
	c.fs.StringVar(&p.passkeyAttestation, "provider-passkey-attestation", "", "required: a provider's or administrator's new passkey must carry a verified attestation statement (self attestation and none are refused); none: no attestation asked (default none)")
	c.fs.Var(&p.passkeyAAGUIDs, "provider-passkey-aaguid", "an authenticator model (AAGUID, a UUID) allowed for providers' and administrators' passkeys when attestation is required (repeatable; replaces the list; \"\" clears it, allowing any model whose attestation verifies)")
	c.fs.StringVar(&p.patientsOff, "patients-may-disable-mfa", "", "on lets patients turn two-step sign-in off with their password while --mfa is optional (default off)")
	c.fs.StringVar(&p.smsMinutes, "sms-code-minutes", "", fmt.Sprintf("minutes a text or voice code works, 1 to %d (0: the server's codes.sms/codes.voice setting)", store.MaxPhoneCodeMinutes))
	c.fs.StringVar(&p.emailMinutes, "email-code-minutes", "", fmt.Sprintf("minutes an email code works, 1 to %d (0: the server's codes.email setting)", store.MaxEmailCodeMinutes))
	c.fs.StringVar(&p.patientFactors, "patient-factors", "", "second factors patients may choose, comma-separated: sms,voice,email,totp,passkey (at least one; default all; providers and administrators are fixed to totp and passkey)")
	c.fs.StringVar(&p.helpContact, "help-contact", "", fmt.Sprintf("where a person who is stuck gets help, one line of plain text of at most %d characters, e.g. \"Call Riverside Health at 555-0100, Monday to Friday 8–6\" (\"\" for the generic \"contact your practice\")", store.MaxHelpContact))
}

// onOff reads an on|off flag.
func onOff(flag, v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, usagef("--%s %q: use on or off", flag, v)
}

// apply reads the flags that were set into the admin service's policy changes and applies them
// with its rules (the same bounds and one-way MFA switch as the admin console and API); a value
// it refuses is a usage error naming the flag.
func (p *tenantPolicy) apply(c *command, t *store.Tenant) error {
	var ch admin.PolicyChanges
	raw := map[string]string{}
	str := func(flag, v string) *string {
		raw[flag] = v
		return &v
	}
	days := func(flag, v string, max int) (*int, error) {
		raw[flag] = v
		d, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			if flag == "passkey-mfa-days" {
				return nil, usagef("--%s %q: use a whole number of days from 0 to %d", flag, v, max)
			}
			return nil, usagef("--%s %q: use a whole number of days from 0 (off) to %d", flag, v, max)
		}
		return &d, nil
	}
	onOffFlag := func(flag, v string) (*bool, error) {
		on, err := onOff(flag, v)
		return &on, err
	}
	var err error
	if c.set("mfa") {
		ch.MFA = str("mfa", p.mfa)
	}
	if c.set("phone-region") {
		ch.PhoneRegion = str("phone-region", p.phoneRegion)
	}
	if c.set("self-registration") {
		if ch.SelfRegistration, err = onOffFlag("self-registration", p.selfRegistration); err != nil {
			return err
		}
	}
	if c.set("remember-device-days") {
		if ch.RememberDeviceDays, err = days("remember-device-days", p.rememberDays, maxRememberDays); err != nil {
			return err
		}
	}
	if c.set("passkey-mfa-days") {
		if ch.PasskeyMFADays, err = days("passkey-mfa-days", p.passkeyDays, 365); err != nil {
			return err
		}
	}
	if c.set("provider-passkey-attestation") {
		if p.passkeyAttestation != store.AttestationRequired && p.passkeyAttestation != store.AttestationNone {
			return usagef("--provider-passkey-attestation %q: use required or none", p.passkeyAttestation)
		}
		t.ProviderPasskeyAttestation = p.passkeyAttestation
		if p.passkeyAttestation == store.AttestationNone && !c.set("provider-passkey-aaguid") {
			t.ProviderPasskeyAAGUIDs = "" // a model list means nothing without attestation
		}
	}
	if c.set("provider-passkey-aaguid") {
		var list []string
		for _, a := range p.passkeyAAGUIDs {
			if strings.TrimSpace(a) == "" {
				continue
			}
			n, err := store.NormalizeAAGUID(a)
			if err != nil {
				return usagef("--provider-passkey-aaguid %q: use an authenticator's AAGUID, a UUID such as cb69481e-8ff7-4039-93ec-0a2729a154a8", a)
			}
			if !slices.Contains(list, n) {
				list = append(list, n)
			}
		}
		t.ProviderPasskeyAAGUIDs = strings.Join(list, " ")
	}
	if t.ProviderPasskeyAAGUIDs != "" && t.ProviderPasskeyAttestation != store.AttestationRequired {
		return usagef("--provider-passkey-aaguid needs --provider-passkey-attestation required: without a verified attestation an AAGUID is only the authenticator's own claim")
	}
	if c.set("remember-device-network") {
		ch.RememberDeviceNetwork = str("remember-device-network", p.rememberNetwork)
	}
	if c.set("remember-device-mfa") {
		if ch.RememberDeviceMFA, err = onOffFlag("remember-device-mfa", p.rememberMFA); err != nil {
			return err
		}
	}
	if c.set("patients-may-disable-mfa") {
		if ch.PatientsMayDisableMFA, err = onOffFlag("patients-may-disable-mfa", p.patientsOff); err != nil {
			return err
		}
	}
	if c.set("help-contact") {
		ch.HelpContact = str("help-contact", p.helpContact)
	}
	if c.set("enforce-from") {
		ch.EnforceFrom = str("enforce-from", p.enforceFrom)
	}
	for _, m := range []struct {
		flag, v string
		dst     **int
	}{{"sms-code-minutes", p.smsMinutes, &ch.SMSCodeMinutes}, {"email-code-minutes", p.emailMinutes, &ch.EmailCodeMinutes}} {
		if !c.set(m.flag) {
			continue
		}
		raw[m.flag] = m.v
		n, err := strconv.Atoi(strings.TrimSpace(m.v))
		if err != nil {
			return usagef("--%s %q: use a whole number of minutes", m.flag, m.v)
		}
		*m.dst = &n
	}
	if c.set("patient-factors") {
		raw["patient-factors"] = p.patientFactors
		list := strings.FieldsFunc(p.patientFactors, func(r rune) bool { return r == ',' || r == ' ' })
		if list == nil {
			list = []string{}
		}
		ch.PatientFactors = &list
	}
	err = ch.Apply(t)
	var in *admin.InputError
	switch {
	case errors.Is(err, admin.ErrMFALocked):
		return errors.New("MFA is required for this tenant and cannot be turned off once it is on")
	case errors.As(err, &in):
		flag := strings.ReplaceAll(in.Field, "_", "-")
		if flag == "help-contact" {
			return usagef("--%s: %s", flag, in.Detail)
		}
		return usagef("--%s %q: %s", flag, raw[flag], in.Detail)
	}
	return err
}

func tenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("tenant create", stderr)
	var name string
	var pol tenantPolicy
	c.fs.StringVar(&name, "name", "", "the tenant's unique name (required)")
	pol.register(c)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return usagef("--name is required")
	}
	t := &store.Tenant{Name: strings.TrimSpace(name), MFAMode: store.MFAOptional}
	if err := pol.apply(c, t); err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := c.box(ctx, st); err != nil { // no change that could not be audited
		return err
	}
	if err := st.CreateTenant(ctx, t); errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("a tenant named %q already exists", name)
	} else if err != nil {
		return err
	}
	if err := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "tenant.created", Detail: t.PolicySummary()}); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"id": t.ID})
}

func tenantUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("tenant update", stderr)
	var ref string
	var pol tenantPolicy
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	pol.register(c)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := c.box(ctx, st); err != nil { // no change that could not be audited
		return err
	}
	if err := pol.apply(c, t); err != nil {
		return err
	}
	if err := st.UpdateTenant(ctx, t); errors.Is(err, store.ErrMFALocked) {
		// Or someone made it required between our read and our write.
		return errors.New("MFA is required for this tenant and cannot be turned off once it is on; an enforcement date that has passed cannot be moved back into the future")
	} else if err != nil {
		return err
	}
	if err := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "tenant.updated", Detail: t.PolicySummary()}); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"id": t.ID, "mfa": t.MFAMode})
}

func practiceCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("practice create", stderr)
	var ref, name string
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&name, "name", "", "the practice's name (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return usagef("--name is required")
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	p := &store.Practice{TenantID: t.ID, Name: strings.TrimSpace(name)}
	if err := st.CreatePractice(ctx, p); errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("tenant %q already has a practice named %q", t.Name, name)
	} else if err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"id": p.ID})
}

func clientCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("client create", stderr)
	var ref, name, typ, alg, minACR string
	var thirdParty, proxyCapable bool
	var redirects, postLogout multi
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&name, "name", "", "the application's name, shown on the sign-in page (required)")
	c.fs.StringVar(&typ, "type", store.ClientWeb, "web (confidential, with a secret), public (PKCE, no secret) or service (client_credentials only)")
	c.fs.Var(&redirects, "redirect-uri", "a redirect URI (repeatable); https, or http on a loopback address")
	c.fs.Var(&postLogout, "post-logout-redirect-uri", "a post-logout redirect URI (repeatable)")
	c.fs.StringVar(&alg, "id-token-alg", "", "ID token signing algorithm: ES256 (default), RS256 or EdDSA")
	c.fs.BoolVar(&thirdParty, "third-party", false, "an application outside the tenant: people are asked to allow it (consent) before it gets their data")
	c.fs.BoolVar(&proxyCapable, "proxy", false, "caregivers may open a patient's record in this application (patient chooser, patient-context tokens, token exchange)")
	c.fs.StringVar(&minACR, "min-acr", "", "minimum acr for every sign-in to this client: "+strings.Join(authn.ACRValues, ", "))
	var smart clientSMART // allowed scopes, back-channel logout (smart.go)
	smart.register(c)
	if err := c.parse(args, nil); err != nil {
		return err
	}
	if strings.TrimSpace(name) == "" {
		return usagef("--name is required")
	}
	if !slices.Contains([]string{store.ClientWeb, store.ClientPublic, store.ClientService}, typ) {
		return usagef("--type %q: use web, public or service", typ)
	}
	if alg != "" && !slices.Contains(keys.Algorithms, jose.SignatureAlgorithm(alg)) {
		return usagef("--id-token-alg %q: use ES256, RS256 or EdDSA", alg)
	}
	if minACR != "" && authn.ACRRank(minACR) < 0 {
		return usagef("--min-acr %q: use one of %s", minACR, strings.Join(authn.ACRValues, ", "))
	}
	if typ == store.ClientService && (len(redirects) > 0 || len(postLogout) > 0) {
		return usagef("a service client signs nobody in: it takes no --redirect-uri or --post-logout-redirect-uri")
	}
	if typ == store.ClientService && proxyCapable {
		return usagef("a service client signs nobody in: it cannot be --proxy")
	}
	if typ != store.ClientService && len(redirects) == 0 {
		return usagef("a %s client needs at least one --redirect-uri", typ)
	}
	for _, u := range append(append([]string{}, redirects...), postLogout...) {
		if err := oidcop.ValidateRedirectURI(u); err != nil {
			return usagef("redirect URI %v", err)
		}
	}
	settings, err := smart.apply(c, typ)
	if err != nil {
		return err
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	cl := &store.Client{TenantID: t.ID, Name: strings.TrimSpace(name), Type: typ, FirstParty: !thirdParty,
		RedirectURIs: store.StringList(redirects), PostLogoutRedirectURIs: store.StringList(postLogout), IDTokenAlg: alg, MinACR: minACR, Proxy: proxyCapable}
	applySettings(cl, settings)
	out := map[string]any{"client_id": nil, "client_secret": nil}
	box, err := c.box(ctx, st) // also for a public client: no change that could not be audited
	if err != nil {
		return err
	}
	if typ != store.ClientPublic {
		value := secret.RandomToken(32)
		cl.SecretHash = server.ClientSecretHasher(box).Sum(value)
		out["client_secret"] = value
	}
	if err := st.CreateClient(ctx, cl); err != nil {
		return err
	}
	detail := strings.TrimSpace("type=" + typ + " " + settingsSummary(settings))
	if err := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "client.created", ClientID: cl.ID, Detail: detail}); err != nil {
		return err
	}
	out["client_id"] = cl.ID
	if typ == store.ClientPublic {
		delete(out, "client_secret")
	}
	return printJSON(stdout, out)
}

func userCreate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("user create", stderr)
	var ref, email, name, phoneIn, role, practice, fhirUser string
	var pwStdin bool
	c.fs.StringVar(&fhirUser, "fhir-user", "", "the person's FHIR resource for the SMART fhirUser claim: Practitioner/123, Patient/456, RelatedPerson/7 or an https URL ending in one")
	c.fs.StringVar(&ref, "tenant", "", "the tenant's id or name (required)")
	c.fs.StringVar(&email, "email", "", "the person's email address, unique within the tenant (required)")
	c.fs.StringVar(&name, "name", "", "full name")
	c.fs.StringVar(&phoneIn, "phone", "", "mobile or landline number, with country code (+1 202 555 0123)")
	c.fs.StringVar(&role, "role", store.RolePatient, "patient, provider, staff or admin")
	c.fs.StringVar(&practice, "practice", "", "the practice's id or name")
	c.fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input (required)")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	email = strings.TrimSpace(email)
	if email == "" {
		return usagef("--email is required")
	}
	if err := validEmail(email); err != nil {
		return usageError{err.Error()}
	}
	if !slices.Contains(store.Roles, role) {
		return usagef("--role %q: use patient, provider, staff or admin", role)
	}
	fhirUser = strings.TrimSpace(fhirUser)
	if err := oidcop.ValidFHIRUser(fhirUser); err != nil {
		return usagef("--fhir-user %v", err)
	}
	if !pwStdin {
		return usagef("--password-stdin is required: pass the password on standard input, never as an argument")
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, 4096))
	if err != nil {
		return err
	}
	pw := strings.TrimRight(string(raw), "\r\n")
	if err := password.CheckPolicy(pw, c.cfg.Password.MinLength); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	st, t, err := c.openTenant(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	// The same rules as a reset or a registration: not a common or breached password, nor one
	// made from the person's address, name or the tenant's name.
	if err := password.CheckNew(pw, c.cfg.Password.MinLength, email, name, t.Name); errors.Is(err, password.ErrCommon) {
		return fmt.Errorf("password: %w; choose something harder to guess, like three or four unrelated words", err)
	} else if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	var num phone.Number
	if phoneIn != "" {
		if num, err = phone.Parse(phoneIn, t.PhoneRegion); err != nil {
			return usagef("--phone %q: %v", phoneIn, err)
		}
	}
	if _, err := c.box(ctx, st); err != nil { // no change that could not be audited
		return err
	}
	u := &store.User{TenantID: t.ID, Email: email, Name: strings.TrimSpace(name), Role: role, Phone: num.E164,
		PhoneLineType: string(num.LineType), FHIRUser: fhirUser}
	u.GivenName, u.FamilyName = store.SplitName(u.Name)
	if practice != "" {
		p, err := st.PracticeByRef(ctx, t.ID, practice)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("unknown practice %q in tenant %q (create it with `tessera practice create`)", practice, t.Name)
		} else if err != nil {
			return err
		}
		u.PracticeID = &p.ID
	}
	opts := serverOptions(c.cfg, nil)
	hash, err := password.New(opts.Password, opts.MaxConcurrentHashes).Hash(ctx, pw)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	if err := st.CreateUser(ctx, u); errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("tenant %q already has a user with the email %q", t.Name, email)
	} else if err != nil {
		return err
	}
	if err := c.record(ctx, st, &store.AuditEvent{TenantID: t.ID, Event: "user.created", SubjectID: u.ID, Detail: "role=" + role}); err != nil {
		return err
	}
	return printJSON(stdout, map[string]string{"id": u.ID})
}

func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("keys rotate", stderr)
	var alg string
	c.fs.StringVar(&alg, "alg", "", "rotate only this algorithm's key (ES256, RS256 or EdDSA); default all")
	if err := c.parse(args, nil); err != nil {
		return err
	}
	algs := keys.Algorithms
	if alg != "" {
		if !slices.Contains(keys.Algorithms, jose.SignatureAlgorithm(alg)) {
			return usagef("--alg %q: use ES256, RS256 or EdDSA", alg)
		}
		algs = []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	box, err := c.box(ctx, st)
	if err != nil {
		return err
	}
	km := keys.NewManager(st, box, keys.Options{Grace: c.cfg.Keys.RotationGrace, CacheTTL: c.cfg.Cache.TTL})
	if err := km.Ensure(ctx); err != nil {
		return err
	}
	var rotated []map[string]string
	for _, a := range algs {
		kid, from, err := km.Rotate(ctx, a)
		if err != nil {
			return err
		}
		rotated = append(rotated, map[string]string{"alg": string(a), "kid": kid, "active_from": from.UTC().Format(time.RFC3339)})
		if err := c.record(ctx, st, &store.AuditEvent{Event: "keys.rotated", Detail: string(a) + " " + kid}); err != nil {
			return err
		}
	}
	return printJSON(stdout, map[string]any{"rotated": rotated})
}
