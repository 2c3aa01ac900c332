package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSeedAndRun builds the real tessera binary, sets it up only through its CLI (seed), serves
// it as a separate process and drives every scenario briefly: each must complete requests
// without a single error, and the server's CPU must be read from /proc. It checks the driver
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
	for _, sc := range []string{"discovery", "jwks", "cc", "login", "refresh", "refresh-rs256", "userinfo", "introspect"} {
		var out, errOut bytes.Buffer
		// A sign-in is one argon2id hash and a dozen requests: on a machine busy with the rest
		// of the suite one can take over a second, and only completed requests count. On a
		// quiet machine 4 s is over a hundred sign-ins: hence 300 people, so no TOTP code is
		// used twice within its window.
		duration := "1500ms"
		if sc == "login" {
			duration = "4s"
		}
		args := []string{"--target", "http://" + addr, "--seed", seedFile, "--scenario", sc, "--workers", "2",
			"--duration", duration, "--warmup", "100ms", "--pid", strconv.Itoa(srv.Process.Pid), "--json"}
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("%s: %v %s", sc, err, errOut.String())
		}
		var res Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%s: %v: %s", sc, err, out.String())
		}
		if res.Requests == 0 || res.Errors != 0 || res.P50ms <= 0 || res.ServerRSSMB <= 0 {
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
