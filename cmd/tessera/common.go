package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/config"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
)

// command is the part every subcommand shares: --config and --database, and the loaded config.
type command struct {
	fs         *flag.FlagSet
	configPath string
	database   string
	cfg        *config.Config
	sealBox    *secret.Box // the box, once loaded
}

func newCommand(name string, stderr io.Writer) *command {
	c := &command{fs: flag.NewFlagSet("tessera "+name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.configPath, "config", "", "YAML configuration file (or TESSERA_CONFIG)")
	c.fs.StringVar(&c.database, "database", "", "database URL: sqlite:PATH or postgres://… (or TESSERA_DATABASE_URL)")
	return c
}

// parse reads the flags and loads the configuration (defaults < file < env < flags); extra maps
// further explicitly-set flags to config keys.
func (c *command) parse(args []string, extra map[string]*string) error {
	if err := c.fs.Parse(args); err != nil {
		return flagError(err)
	}
	if c.fs.NArg() > 0 {
		return usagef("unexpected argument %q", c.fs.Arg(0))
	}
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	flags := map[string]string{}
	if set["database"] {
		flags["database_url"] = c.database
	}
	for key, v := range extra {
		if v != nil {
			flags[key] = *v
		}
	}
	cfg, err := config.Load(c.configPath, os.Environ(), flags)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	c.cfg = cfg
	return nil
}

// set reports whether a flag was given on the command line.
func (c *command) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// open connects to the database and applies pending migrations.
func (c *command) open(ctx context.Context) (*store.Store, error) {
	driver, dsn := c.cfg.DatabaseDriver()
	st, err := store.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot open the database %s: %w", c.cfg.RedactedDatabaseURL(), err)
	}
	if err := st.Migrate(ctx, tessera.Migrations()); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// secretKey loads the key that seals private keys and keys credential hashes. It is created
// only for a database that has never had keys (a fresh install or the demo); a missing key file
// for a database that has keys is an error, since nothing sealed could be opened.
func (c *command) secretKey(ctx context.Context, st *store.Store) ([]byte, error) {
	n, err := st.CountSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	key, err := secret.LoadOrCreateKey(c.cfg.SecretKeyFile, n == 0)
	if err != nil {
		return nil, fmt.Errorf("secret key (secret_key_file / TESSERA_SECRET_KEY_FILE = %s): %w", c.cfg.SecretKeyFile, err)
	}
	return key, nil
}

// box returns the sealing box over the secret key, loading the key once per command.
func (c *command) box(ctx context.Context, st *store.Store) (*secret.Box, error) {
	if c.sealBox != nil {
		return c.sealBox, nil
	}
	key, err := c.secretKey(ctx, st)
	if err != nil {
		return nil, err
	}
	if c.sealBox, err = secret.NewBox(key); err != nil {
		return nil, err
	}
	return c.sealBox, nil
}

// openTenant opens the database and resolves --tenant.
func (c *command) openTenant(ctx context.Context, ref string) (*store.Store, *store.Tenant, error) {
	st, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, err := tenant(ctx, st, ref)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, t, nil
}

// serverOptions maps the configuration onto a node's options.
func serverOptions(cfg *config.Config, key []byte) server.Options {
	o := server.Defaults(cfg.Issuer, key)
	o.TrustedProxies = cfg.TrustedProxyNets()
	o.Dev = cfg.DevMode()
	o.AccessTokenTTL = cfg.Tokens.AccessTokenTTL
	o.IDTokenTTL = cfg.Tokens.IDTokenTTL
	o.RefreshTTL = cfg.Tokens.RefreshTokenTTL
	o.RefreshIdleTTL = cfg.Tokens.RefreshTokenIdleTTL
	o.CodeTTL = cfg.Tokens.AuthCodeTTL
	o.AuthRequestTTL = cfg.Tokens.AuthRequestTTL
	o.SSOTTL = cfg.Session.SSOTTL
	o.IdleTTL = cfg.Session.IdleTTL
	o.KeyGrace = cfg.Keys.RotationGrace
	o.CacheTTL = cfg.Cache.TTL
	o.Password.MemoryKiB = cfg.Password.Argon2MemoryKiB
	o.Password.Iterations = cfg.Password.Argon2Iterations
	o.Password.Parallelism = cfg.Password.Argon2Parallelism
	o.MaxConcurrentHashes = cfg.Password.HashConcurrency()
	o.MinPasswordLength = cfg.Password.MinLength
	o.Codes = server.CodeOptions{EmailTTL: cfg.Codes.EmailTTL, SMSTTL: cfg.Codes.SMSTTL, VoiceTTL: cfg.Codes.VoiceTTL,
		Limits: store.SendLimits{Cooldown: cfg.Codes.ResendCooldown, PerUser: cfg.Codes.PerUserHourly,
			PerDestination: cfg.Codes.PerDestinationHourly, PerIP: cfg.Codes.PerIPHourly}}
	return o
}

// tenant resolves --tenant (id or unique name), naming it when unknown.
func tenant(ctx context.Context, st *store.Store, ref string) (*store.Tenant, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, usagef("--tenant is required (the tenant's id or name)")
	}
	t, err := st.TenantByRef(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("unknown tenant %q: no tenant has that id or name (create one with `tessera tenant create --name …`)", ref)
	}
	return t, err
}

// validEmail accepts a bare address (no display name) that net/mail can parse.
func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") {
		return fmt.Errorf("%q is not a valid email address (example: pat@example.org)", s)
	}
	return nil
}

// multi collects a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func printJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// record writes an administrator's action from the command line to the audit trail (actor
// "cli": whoever can run the binary against the database). A failure to audit fails the command
// loudly but does not undo the change, which is already saved.
func (c *command) record(ctx context.Context, st *store.Store, e *store.AuditEvent) error {
	box, err := c.box(ctx, st)
	if err != nil {
		return err
	}
	e.ActorID = "cli"
	if e.Result == "" {
		e.Result = "ok"
	}
	return st.AppendAudit(ctx, e, audit.Chain(box.Hasher("audit-chain")))
}
