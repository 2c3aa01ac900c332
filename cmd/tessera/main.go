// Command tessera is the Tessera identity provider: one binary that serves the OpenID Provider
// and administers it.
//
//	tessera serve [--config F] [--addr A] [--issuer URL] [--database URL] [--demo]
//	tessera migrate
//	tessera tenant create --name NAME [--mfa off|optional|required] [--enforce-from YYYY-MM-DD]
//	tessera tenant update --tenant ID [--mfa …] [--enforce-from …] [--phone-region CC] [--self-registration on|off]
//	    [--remember-device-days N] [--remember-device-network exact|prefix|off] [--remember-device-mfa on|off]
//	    [--patients-may-disable-mfa on|off] [--help-contact TEXT]   (the same policy flags for tenant create)
//	    [--sms-code-minutes 1..10] [--email-code-minutes 1..15] [--patient-factors sms,voice,email,totp,passkey]
//	tessera practice create --tenant ID --name NAME
//	tessera client create --tenant ID --name NAME [--type web|public|service] [--redirect-uri URI]… [--post-logout-redirect-uri URI]…
//	tessera user create --tenant ID --email EMAIL [--name NAME] [--phone NUMBER] [--role ROLE] [--practice ID] --password-stdin
//	tessera client update --tenant ID --client CLIENT_ID [--scope S]… [--scopes "S …"] [--backchannel-logout-uri URI] …
//	tessera user update --tenant ID --email EMAIL --fhir-user Practitioner/123
//	tessera user import --tenant ID < users.jsonl
//	tessera keys rotate [--alg ES256|RS256|EdDSA]
//	tessera proxy grant --tenant ID --patient EMAIL --caregiver EMAIL --access full|limited [--expires YYYY-MM-DD] --reason TEXT
//	tessera proxy revoke --tenant ID --id GRANT; tessera proxy list --tenant ID
//
// Every command takes --config and --database; the ones that create something print one JSON
// object on stdout. Errors go to stderr with a non-zero exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// flagError turns a flag parsing error into a usage error; -h and --help stay flag.ErrHelp, so
// asking for help exits 0.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return flag.ErrHelp
	}
	return usageError{err.Error()}
}

const usage = `Tessera — OpenID Connect identity provider with built-in MFA, for healthcare.

Usage:
  tessera serve [--config F] [--addr A] [--issuer URL] [--database URL] [--demo]
  tessera migrate [--database URL]
  tessera tenant create --name NAME [tenant policy]
  tessera tenant update --tenant ID [tenant policy]
      tenant policy: [--mfa off|optional|required] [--enforce-from YYYY-MM-DD] [--phone-region CC]
                     [--self-registration on|off] [--remember-device-days N]
                     [--remember-device-network exact|prefix|off] [--remember-device-mfa on|off]
                     [--patients-may-disable-mfa on|off] [--help-contact "Call … at …, Monday to Friday 8–6"]
                     [--sms-code-minutes 1..10] [--email-code-minutes 1..15]
                     [--patient-factors sms,voice,email,totp,passkey]
  tessera practice create --tenant ID --name NAME
  tessera client create --tenant ID --name NAME [--type web|public|service]
                        [--redirect-uri URI]... [--post-logout-redirect-uri URI]...
                        [--id-token-alg ES256|RS256|EdDSA] [--min-acr ACR] [--proxy] [client SMART]
  tessera client update --tenant ID --client CLIENT_ID [client SMART]
                        [--redirect-uri URI]... [--post-logout-redirect-uri URI]...
      client SMART: [--scope SCOPE]... [--scopes "openid fhirUser launch/patient patient/*.rs"]
                    [--backchannel-logout-uri URI] [--backchannel-logout-session-required on|off]
  tessera user create --tenant ID --email EMAIL [--name "FULL NAME"] [--phone NUMBER]
                      [--role patient|provider|staff|admin] [--practice ID] [--fhir-user Practitioner/123] --password-stdin
  tessera user update --tenant ID --email EMAIL --fhir-user Practitioner/123
  tessera user import --tenant ID < users.jsonl   (JSON lines; see README)
  tessera user unlock --tenant ID --email EMAIL
  tessera keys rotate [--alg ES256|RS256|EdDSA]
  tessera proxy grant --tenant ID --patient EMAIL --caregiver EMAIL --access full|limited
                      [--scope-set NAME] [--expires YYYY-MM-DD] --reason TEXT
  tessera proxy revoke --tenant ID --id GRANT
  tessera proxy list --tenant ID            (JSON lines)
  tessera proxy scopes --tenant ID [--name limited] --scopes "patient/Appointment.read …"
  tessera audit verify [--tenant ID]       (non-zero exit when a row was changed, removed or reordered)
  tessera audit export [--tenant ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD]   (JSON lines)
  tessera audit purge [--retention-days N]   (removes events older than audit.retention_days)
  tessera healthcheck [--url http://127.0.0.1:8080/readyz]   (for container health checks)

Every command accepts --config FILE and --database URL (or TESSERA_DATABASE_URL).
--tenant accepts the tenant's id or its unique name.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, args, stdin, stdout, stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) { // -h: the flag package printed the usage
		return 0
	}
	fmt.Fprintln(stderr, "tessera:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		sub, rest = rest[0], rest[1:]
	}
	switch cmd + " " + sub {
	case "serve ":
		return serve(ctx, rest, stdout, stderr)
	case "migrate ":
		return migrate(ctx, rest, stderr)
	case "tenant create":
		return tenantCreate(ctx, rest, stdout, stderr)
	case "tenant update":
		return tenantUpdate(ctx, rest, stdout, stderr)
	case "practice create":
		return practiceCreate(ctx, rest, stdout, stderr)
	case "client create":
		return clientCreate(ctx, rest, stdout, stderr)
	case "client update":
		return clientUpdate(ctx, rest, stdout, stderr)
	case "user create":
		return userCreate(ctx, rest, stdin, stdout, stderr)
	case "user update":
		return userUpdate(ctx, rest, stdout, stderr)
	case "user import":
		return userImport(ctx, rest, stdin, stdout, stderr)
	case "user unlock":
		return userUnlock(ctx, rest, stdout, stderr)
	case "keys rotate":
		return keysRotate(ctx, rest, stdout, stderr)
	case "proxy grant":
		return proxyGrant(ctx, rest, stdout, stderr)
	case "proxy revoke":
		return proxyRevoke(ctx, rest, stdout, stderr)
	case "proxy list":
		return proxyList(ctx, rest, stdout, stderr)
	case "proxy scopes":
		return proxyScopes(ctx, rest, stdout, stderr)
	case "audit verify":
		return auditVerify(ctx, rest, stdout, stderr)
	case "audit export":
		return auditExport(ctx, rest, stdout, stderr)
	case "audit purge":
		return auditPurge(ctx, rest, stdout, stderr)
	case "healthcheck ":
		return healthcheck(ctx, rest, stderr)
	}
	return usagef("unknown command %q; run `tessera help`", (cmd + " " + sub))
}

// healthcheck asks a running node whether it is ready; images without curl use it.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	u := fs.String("url", "http://127.0.0.1:8080/readyz", "readiness URL")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *u, nil)
	if err != nil {
		return usageError{err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s", resp.Status)
	}
	return nil
}
