package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/tessera-health/tessera/internal/password"
)

// Seed is what seed prints and run reads.
type Seed struct {
	Tenant        string     `json:"tenant"`
	WebClientID   string     `json:"web_client_id"`
	WebSecret     string     `json:"web_client_secret"`
	RS256ClientID string     `json:"rs256_client_id"`
	RS256Secret   string     `json:"rs256_client_secret"`
	ServiceID     string     `json:"service_client_id"`
	ServiceSecret string     `json:"service_client_secret"`
	RedirectURI   string     `json:"redirect_uri"`
	Users         []SeedUser `json:"users"`
}

// SeedUser is one person the login scenario signs in as.
type SeedUser struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"`
}

// benchRedirect is never contacted: the driver stops at the redirect and reads the code.
const benchRedirect = "http://127.0.0.1:9/bench/callback"

const benchPassword = "bench correct horse battery"

func seed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("tessera", "tessera", "path of the tessera binary")
	db := fs.String("database", "", "database URL (as tessera --database)")
	users := fs.Int("users", 1000, "users to create (the login scenario needs about 30 s × logins/s of them: a TOTP code is accepted once)")
	tenant := fs.String("tenant", "bench", "tenant name")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *users < 1 || *users > 200000 {
		return usageError{"--users must be between 1 and 200000"}
	}
	cli := func(stdin io.Reader, a ...string) (map[string]any, error) {
		if *db != "" {
			a = append(a, "--database", *db)
		}
		cmd := exec.CommandContext(ctx, *bin, a...)
		cmd.Stdin, cmd.Stderr = stdin, stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", *bin, strings.Join(a[:2], " "), err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			return nil, fmt.Errorf("%s %s: %q is not JSON", *bin, strings.Join(a[:2], " "), out)
		}
		return m, nil
	}
	if _, err := cli(nil, "tenant", "create", "--name", *tenant, "--mfa", "required"); err != nil {
		return err
	}
	s := Seed{Tenant: *tenant, RedirectURI: benchRedirect}
	for _, c := range []struct {
		id, secret *string
		extra      []string
	}{
		{&s.WebClientID, &s.WebSecret, []string{"--name", "bench portal", "--type", "web", "--redirect-uri", benchRedirect}},
		{&s.RS256ClientID, &s.RS256Secret, []string{"--name", "bench rs256", "--type", "web", "--redirect-uri", benchRedirect, "--id-token-alg", "RS256"}},
		{&s.ServiceID, &s.ServiceSecret, []string{"--name", "bench service", "--type", "service"}},
	} {
		m, err := cli(nil, append([]string{"client", "create", "--tenant", *tenant}, c.extra...)...)
		if err != nil {
			return err
		}
		*c.id, _ = m["client_id"].(string)
		*c.secret, _ = m["client_secret"].(string)
	}
	// One real argon2id hash with the production parameters, shared: every sign-in still pays a
	// full verification, and seeding 1,000 people takes a second, not thirty.
	hash, err := password.New(password.DefaultParams(), 1).Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for i := range *users {
		u := SeedUser{Email: fmt.Sprintf("bench%06d@bench.example", i), Password: benchPassword, TOTPSecret: totpSecret()}
		s.Users = append(s.Users, u)
		if err := enc.Encode(map[string]any{"email": u.Email, "name": "Bench User", "password_hash": hash,
			"totp_secret": u.TOTPSecret}); err != nil {
			return err
		}
	}
	if _, err := cli(&lines, "user", "import", "--tenant", *tenant); err != nil {
		return err
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	return out.Encode(s)
}

func totpSecret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}
