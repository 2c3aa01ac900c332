package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	tessera "github.com/tessera-health/tessera"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestSeedAndRun builds the real tessera binary, sets it up only through its CLI (seed), serves
// it as two processes on one database and drives every scenario briefly (cc and login-cross
// over both nodes: a sign-in started on one finishes on the other): each must complete requests
// without a single error, and the servers' CPU must be read from /proc. It checks the driver
// works end to end; the figures themselves belong in BENCHMARKS.md, never in a test.
func TestSeedAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and serves the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tessera")
	build := exec.Command("go", "build", "-o", bin, "../tessera")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(filepath.Join(dir, "secret.key"), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
	env := append(os.Environ(), "TESSERA_DATABASE_URL=sqlite:"+filepath.Join(dir, "t.db"),
		"TESSERA_SECRET_KEY_FILE="+filepath.Join(dir, "secret.key"))
	migrate := exec.Command(bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	t.Setenv("TESSERA_DATABASE_URL", "sqlite:"+filepath.Join(dir, "t.db"))
	t.Setenv("TESSERA_SECRET_KEY_FILE", filepath.Join(dir, "secret.key"))
	var seedOut, seedErr bytes.Buffer
	ctx := context.Background()
	if err := seed(ctx, []string{"--tessera", bin, "--users", "300"}, &seedOut, &seedErr); err != nil {
		t.Fatalf("seed: %v\n%s", err, seedErr.String())
	}
	var s Seed
	if err := json.Unmarshal(seedOut.Bytes(), &s); err != nil || len(s.Users) != 300 || s.ServiceSecret == "" {
		t.Fatalf("seed output: %v %+v", err, s)
	}
	seedFile := filepath.Join(dir, "seed.json")
	os.WriteFile(seedFile, seedOut.Bytes(), 0o600)

	serve := func() (string, int) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		srv := exec.Command(bin, "serve", "--addr", addr, "--issuer", "http://"+addr)
		srv.Env = env
		var logs bytes.Buffer
		srv.Stderr = &logs
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() })
		deadline := time.Now().Add(20 * time.Second)
		for {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("server not ready:\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return addr, srv.Process.Pid
	}
	addr, pid := serve()
	// A second node on the same database: login-cross signs in on one and finishes on the other.
	addr2, pid2 := serve()
	for _, sc := range []string{"discovery", "jwks", "cc", "login", "login-cross", "refresh", "refresh-rs256", "userinfo", "introspect"} {
		var out, errOut bytes.Buffer
		// A sign-in is one argon2id hash and a dozen requests: on a machine busy with the rest
		// of the suite one can take over a second, and only completed requests count. Two
		// workers on two cores sign in at most ~60 times a second (argon2id), so the two login
		// scenarios (2 s each) and the set-ups stay under the 300 people: no TOTP code is used
		// twice within its 30-second window, however fast the machine.
		duration := "1500ms"
		if strings.HasPrefix(sc, "login") {
			duration = "2s"
		}
		args := []string{"--target", "http://" + addr, "--seed", seedFile, "--scenario", sc, "--workers", "2",
			"--duration", duration, "--warmup", "100ms", "--pid", strconv.Itoa(pid), "--json"}
		if sc == "login-cross" || sc == "cc" {
			args = append(args, "--target", "http://"+addr2, "--pid", strconv.Itoa(pid2))
		}
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("%s: %v %s", sc, err, errOut.String())
		}
		var res Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%s: %v: %s", sc, err, out.String())
		}
		if res.Requests == 0 || res.Errors != 0 || res.P50ms <= 0 || res.ServerRSSMB <= 0 || len(res.ServerRSS) != res.Targets {
			t.Errorf("%s: %+v", sc, res)
		}
	}
}

// TestLoopbackOnly: the driver refuses any target that is not on this machine.
func TestLoopbackOnly(t *testing.T) {
	for target, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:8080": true, "http://[::1]:8080": true,
		"http://10.0.0.5:8080": false, "https://login.example.org": false, "ftp://127.0.0.1": false, "127.0.0.1:8080": false,
	} {
		_, err := loopbackURL(target)
		if (err == nil) != ok {
			t.Errorf("%s: err %v, want allowed=%v", target, err, ok)
		}
	}
	err := run(context.Background(), []string{"--target", "http://127.0.0.1:1", "--workers", "1000"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "workers") {
		t.Errorf("1000 workers must be refused: %v", err)
	}
}

// TestBulkSQLite: bulk gives the tenant's people a thousand live sessions and refresh tokens,
// each token tied to its own session and family, and a second run adds nothing.
func TestBulkSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulk.db")
	testBulk(t, "sqlite", path, "sqlite:"+path)
}

// TestBulkPostgres: the same on PostgreSQL, which also reports the tables' bytes per session.
func TestBulkPostgres(t *testing.T) {
	dsn := storetest.ScratchPostgres(t) // skips without TESSERA_TEST_POSTGRES_URL
	testBulk(t, "postgres", dsn, dsn)
}

func testBulk(t *testing.T, driver, dsn, dbURL string) {
	ctx := context.Background()
	st, err := store.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx, tessera.Migrations()); err != nil {
		t.Fatal(err)
	}
	tn := &store.Tenant{Name: "Bench"}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, &store.Client{TenantID: tn.ID, Name: "portal", Type: store.ClientWeb,
		RedirectURIs: store.StringList{benchRedirect}}); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := st.CreateUser(ctx, &store.User{TenantID: tn.ID, Email: fmt.Sprintf("p%d@bench.example", i), Name: "P"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	for pass, wantAdded := range []int{1000, 0} {
		var out, errOut bytes.Buffer
		if err := bulk(ctx, []string{"--database", dbURL, "--tenant", "bench", "--sessions", "1000"}, &out, &errOut); err != nil {
			t.Fatalf("pass %d: %v %s", pass, err, errOut.String())
		}
		var res BulkResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("pass %d: %v: %s", pass, err, out.String())
		}
		if res.Added != wantAdded || res.BulkSessions != 1000 || res.Sessions != 1000 || res.RefreshTokens != 1000 ||
			(driver == "postgres") != (res.SessionsBytes > 0 && res.RefreshBytes > 0 && res.BytesPerSession > 0) {
			t.Errorf("pass %d: %+v, want %d added and 1000 of each", pass, res, wantAdded)
		}
	}

	db, _, err := openBulkDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	var check struct{ Live, Families, Users, Linked int64 }
	now := time.Now().Unix()
	db.Raw(`SELECT count(*) FROM sessions WHERE expires_at > ? AND revoked_at IS NULL`, now).Scan(&check.Live)
	db.Raw(`SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE expires_at > ? AND revoked_at IS NULL AND rotated_at IS NULL`, now).Scan(&check.Families)
	db.Raw(`SELECT count(DISTINCT user_id) FROM sessions`).Scan(&check.Users)
	db.Raw(`SELECT count(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id AND s.user_id = r.user_id`).Scan(&check.Linked)
	if check != (struct{ Live, Families, Users, Linked int64 }{1000, 1000, 7, 1000}) {
		t.Errorf("rows: %+v; want 1000 live sessions, 1000 live families, spread over the 7 people, each token on its session", check)
	}

	for _, args := range [][]string{
		{"--database", dbURL, "--sessions", "1000001"},
		{"--database", "mysql://db/x", "--sessions", "10"},
	} {
		if err := bulk(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if err := bulk(ctx, []string{"--database", dbURL, "--tenant", "nobody"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "seed") {
		t.Errorf("unknown tenant: %v", err)
	}
}

// TestRunFlags: --target, --pid and --db-pid repeat (or take lists), every target must be on
// loopback, and the process selections are checked.
func TestRunFlags(t *testing.T) {
	f, err := parseRunFlags([]string{"--target", "http://127.0.0.1:8081", "--target", "http://127.0.0.1:8082,http://localhost:8083",
		"--pid", "11", "--pid", "12,13", "--db-pid", "postgres:bench_1", "--db-pid", "42", "--scenario", "login-cross"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, u := range f.targets {
		hosts = append(hosts, u.Host)
	}
	if strings.Join(hosts, " ") != "127.0.0.1:8081 127.0.0.1:8082 localhost:8083" || !slices.Equal(f.pids, []int{11, 12, 13}) ||
		!slices.Equal(f.dbProcs, []string{"postgres:bench_1", "42"}) {
		t.Errorf("parsed %v %v %v", hosts, f.pids, f.dbProcs)
	}
	if f, err := parseRunFlags(nil, &bytes.Buffer{}); err != nil || len(f.targets) != 1 || f.targets[0].Host != "127.0.0.1:8080" {
		t.Errorf("default target: %v %v", f.targets, err)
	}
	for _, bad := range [][]string{
		{"--target", "http://127.0.0.1:8081", "--target", "http://10.1.2.3:8080"},
		{"--pid", "abc"}, {"--pid", "0"}, {"--db-pid", "mysql"}, {"--scenario", "nope"}, {"stray"},
	} {
		if _, err := parseRunFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestRoundRobin: workers are spread over the targets in turn and keep theirs; login-cross
// finishes on the next target, the last one wrapping to the first.
func TestRoundRobin(t *testing.T) {
	var bases []*url.URL
	for _, p := range []string{"8081", "8082", "8083"} {
		u, _ := loopbackURL("http://127.0.0.1:" + p)
		bases = append(bases, u)
	}
	ds := newDrivers(bases, &Seed{}, 8)
	ws := assignTargets(8, ds)
	var got []string
	for _, w := range ws {
		got = append(got, w.d.base.Port()+">"+w.d.next.base.Port())
	}
	want := "8081>8082 8082>8083 8083>8081 8081>8082 8082>8083 8083>8081 8081>8082 8082>8083"
	if strings.Join(got, " ") != want {
		t.Errorf("workers: %s\nwant     %s", strings.Join(got, " "), want)
	}
	if ds[0].nextUser != ds[2].nextUser {
		t.Error("the targets must share one cursor over the people")
	}
	one := newDrivers(bases[:1], &Seed{}, 2)
	if one[0].next != one[0] {
		t.Error("with one target, login-cross finishes where it started")
	}
}

// TestTitleDatabase reads the database out of PostgreSQL backends' process titles, and nothing
// out of its background processes'.
func TestTitleDatabase(t *testing.T) {
	for title, want := range map[string]string{
		"postgres: 15/main: postgres bench_1 127.0.0.1(41234) idle":                "bench_1",
		"postgres: 15/main: postgres bench_1 127.0.0.1(41234) idle in transaction": "bench_1",
		"postgres: app tessera [local] SELECT":                                     "tessera",
		"postgres: 15/main: checkpointer":                                          "",
		"postgres: 15/main: logical replication launcher":                          "",
		"/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main":       "",
	} {
		if got := titleDatabase(title); got != want {
			t.Errorf("%q: %q, want %q", title, got, want)
		}
	}
}
