package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tessera-health/tessera/internal/store/storetest"
)

// BenchmarkServerProcess measures the server alone: Tessera runs as its own process (built and
// set up through the CLI, as an operator would), and the CPU it spends is read from
// /proc/PID/stat around the measured loop, so the driver's work is not counted.
// Run with: go test ./internal/server/ -run '^$' -bench ServerProcess -benchtime 2000x
func BenchmarkServerProcess(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			dbURL := "sqlite:" + filepath.Join(b.TempDir(), "bench.db")
			if backend == "postgres" {
				dbURL = storetest.ScratchPostgres(b)
			}
			p := startProcess(b, dbURL)
			b.Run("client_credentials", func(b *testing.B) {
				form := url.Values{"grant_type": {"client_credentials"}}
				perfPost(b, p.issuer+"/oauth/token", form, p.svcID, p.svcSecret)
				start := p.cpu(b)
				for b.Loop() {
					perfPost(b, p.issuer+"/oauth/token", form, p.svcID, p.svcSecret)
				}
				b.ReportMetric(float64(p.cpu(b)-start)/float64(time.Millisecond)/float64(b.N), "server-cpu-ms/op")
			})
			e := &env{t: b, issuer: p.issuer, ctx: context.Background()}
			r := e.rp(p.webID, p.webSecret, oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess)
			b.Run("refresh_token", func(b *testing.B) {
				tok, _ := r.login(newBrowser(b), "pat@example.org", "correct horse battery")
				rt := tok.RefreshToken
				start := p.cpu(b)
				for b.Loop() {
					body := perfPost(b, p.issuer+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, p.webID, p.webSecret)
					rt = jsonField(body, "refresh_token")
				}
				b.ReportMetric(float64(p.cpu(b)-start)/float64(time.Millisecond)/float64(b.N), "server-cpu-ms/op")
			})
			b.Run("password_login", func(b *testing.B) {
				start := p.cpu(b)
				for b.Loop() {
					r.login(newBrowser(b), "pat@example.org", "correct horse battery")
				}
				b.ReportMetric(float64(p.cpu(b)-start)/float64(time.Millisecond)/float64(b.N), "server-cpu-ms/op")
			})
		})
	}
}

type process struct {
	issuer              string
	pid                 int
	svcID, svcSecret    string
	webID, webSecret    string
	clockTicksPerSecond float64
}

func startProcess(b *testing.B, dbURL string) *process {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "tessera")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/tessera")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "TESSERA_DATABASE_URL="+dbURL, "TESSERA_SECRET_KEY_FILE="+filepath.Join(dir, "secret.key"))
	cli := func(stdin string, args ...string) map[string]any {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("tessera %v: %v", args, err)
		}
		m := map[string]any{}
		json.Unmarshal(out, &m)
		return m
	}
	cli("", "migrate")
	tenant := cli("", "tenant", "create", "--name", "Bench Health")["id"].(string)
	svc := cli("", "client", "create", "--tenant", tenant, "--name", "Lab", "--type", "service")
	web := cli("", "client", "create", "--tenant", tenant, "--name", "Portal", "--type", "web", "--redirect-uri", rpRedirect)
	cli("correct horse battery\n", "user", "create", "--tenant", tenant, "--email", "pat@example.org", "--name", "Pat Smith", "--password-stdin")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(bin, "serve", "--addr", addr, "--issuer", "http://"+addr)
	srv.Env = append(env, "TESSERA_LOG_LEVEL=warn")
	var logs bytes.Buffer
	srv.Stderr = &logs
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("server not ready: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &process{issuer: "http://" + addr, pid: srv.Process.Pid,
		svcID: svc["client_id"].(string), svcSecret: svc["client_secret"].(string),
		webID: web["client_id"].(string), webSecret: web["client_secret"].(string), clockTicksPerSecond: 100}
}

// cpu returns the process's user+system CPU time from /proc/PID/stat (fields 14 and 15, in
// clock ticks of 1/100 s on Linux).
func (p *process) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return time.Duration((utime + stime) / p.clockTicksPerSecond * float64(time.Second))
}
