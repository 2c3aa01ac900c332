package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/demo"
)

// TestServeDemo is the newcomer's minute, as a real process: `tessera serve --demo` starts,
// prints how to try it, the demo portal signs in through Tessera and shows the ID token's claims,
// the operations endpoints answer, and SIGTERM stops it cleanly.
func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tessera")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := "http://localhost:" + itoa(port)
	cmd := exec.Command(bin, "serve", "--demo", "--addr", "127.0.0.1:"+itoa(port), "--issuer", base)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TESSERA_LOG_LEVEL=warn")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	waitReady(t, base+"/readyz", done, &stderr)
	if _, err := os.Stat(filepath.Join(dir, "data", "tessera.db")); err != nil {
		t.Errorf("the demo keeps its SQLite file under ./data/: %v", err)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, body := fetch(t, browser, "GET", base+"/demo/login", nil)
	if resp.Request.URL.Path != "/login" || !strings.Contains(body, demo.ClientName) {
		t.Fatalf("/demo/login did not reach the sign-in page naming the portal: %s", resp.Request.URL)
	}
	form := url.Values{"email": {demo.PatientEmail}, "password": {demo.PatientPassword}}
	for _, m := range regexp.MustCompile(`name="(csrf|authRequestID)" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		form.Set(m[1], m[2])
	}
	resp, body = fetch(t, browser, "POST", base+"/login", form)
	if resp.Request.URL.Path != "/demo" || !strings.Contains(body, demo.PatientEmail) || !strings.Contains(body, "urn:tessera:acr:1fa") {
		t.Fatalf("after sign-in: %s\n%.500s", resp.Request.URL, body)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": "tessera_http_requests_total", "/dev/outbox.json": "messages"} {
		if _, b := fetch(t, browser, "GET", base+path, nil); !strings.Contains(b, want) {
			t.Errorf("%s does not contain %q", path, want)
		}
	}
	if !strings.Contains(stdout.String(), base+"/demo") || !strings.Contains(stdout.String(), demo.PatientPassword) {
		t.Errorf("start-up did not print the demo URL and credentials:\n%s", stdout.String())
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop within 15 s of SIGTERM")
	}
}

func waitReady(t *testing.T, u string, done chan error, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not ready after 60 s:\n%s", logs.String())
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = c.PostForm(u, form)
	} else {
		resp, err = c.Get(u)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
