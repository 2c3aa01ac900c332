package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds that keep a run from becoming an attack by mistake.
const (
	maxWorkers  = 256
	maxDuration = 10 * time.Minute
	maxSamples  = 2_000_000 // latencies kept for the percentiles; counting goes on past it
)

type runFlags struct {
	targets            []*url.URL
	seedFile, scenario string
	workers            int
	duration, warmup   time.Duration
	pids               []int    // Tessera processes: CPU summed, RSS of each
	dbProcs            []string // PostgreSQL processes: PIDs, "postgres" (all) or "postgres:DBNAME"
	json               bool
}

// Result is one run's figures.
type Result struct {
	Scenario    string    `json:"scenario"`
	Targets     int       `json:"targets"`
	Workers     int       `json:"workers"`
	Seconds     float64   `json:"seconds"`
	Requests    int64     `json:"requests"`
	Errors      int64     `json:"errors"`
	PerSecond   float64   `json:"per_second"`
	P50ms       float64   `json:"p50_ms"`
	P95ms       float64   `json:"p95_ms"`
	P99ms       float64   `json:"p99_ms"`
	ServerCPUms float64   `json:"server_cpu_ms_per_request,omitempty"` // summed over every --pid
	ServerRSSMB float64   `json:"server_rss_mb,omitempty"`             // the largest of them
	ServerRSS   []float64 `json:"server_rss_mb_each,omitempty"`
	DBCPUms     float64   `json:"db_cpu_ms_per_request,omitempty"` // PostgreSQL, summed over --db-pid
	DBProcs     int       `json:"db_processes,omitempty"`
	FirstError  string    `json:"first_error,omitempty"`
}

// listFlag collects a repeatable flag's values (also comma-separated).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Bounds of the multi-node flags.
const maxTargets = 16

func parseRunFlags(args []string, stderr io.Writer) (runFlags, error) {
	var (
		f                      runFlags
		targets, pids, dbProcs listFlag
	)
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&targets, "target", "Tessera's base URL (its issuer); loopback only; repeat for several nodes (workers go round-robin)")
	fs.StringVar(&f.seedFile, "seed", "", "the JSON that `tessera-bench seed` printed")
	fs.StringVar(&f.scenario, "scenario", "cc", "cc, refresh, refresh-rs256, login, login-cross, userinfo, introspect, jwks or discovery")
	fs.IntVar(&f.workers, "workers", 8, "concurrent workers (1 to 256)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time (at most 10m)")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured time before it")
	fs.Var(&pids, "pid", "a Tessera process id (repeatable): CPU per request summed over them, and each one's memory")
	fs.Var(&dbProcs, "db-pid", "PostgreSQL's CPU per request (repeatable): a PID, \"postgres\" for every process named postgres, or \"postgres:DBNAME\" for the backends serving DBNAME")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return f, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return f, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if f.workers < 1 || f.workers > maxWorkers {
		return f, usageError{fmt.Sprintf("--workers must be between 1 and %d", maxWorkers)}
	}
	if f.duration <= 0 || f.duration > maxDuration || f.warmup < 0 || f.warmup > time.Minute {
		return f, usageError{"--duration must be in (0, 10m] and --warmup in [0, 1m]"}
	}
	if len(targets) == 0 {
		targets = listFlag{"http://127.0.0.1:8080"}
	}
	if len(targets) > maxTargets {
		return f, usageError{fmt.Sprintf("at most %d --target", maxTargets)}
	}
	for _, t := range targets {
		u, err := loopbackURL(t)
		if err != nil {
			return f, usageError{err.Error()}
		}
		f.targets = append(f.targets, u)
	}
	for _, p := range pids {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return f, usageError{fmt.Sprintf("--pid %q: want a process id", p)}
		}
		f.pids = append(f.pids, n)
	}
	for _, p := range dbProcs {
		if n, err := strconv.Atoi(p); (err != nil || n <= 0) && p != "postgres" && !strings.HasPrefix(p, "postgres:") {
			return f, usageError{fmt.Sprintf("--db-pid %q: want a process id, postgres or postgres:DBNAME", p)}
		}
	}
	f.dbProcs = dbProcs
	if _, ok := scenarios[f.scenario]; !ok {
		return f, usageError{fmt.Sprintf("unknown scenario %q", f.scenario)}
	}
	return f, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return err
	}
	sc := scenarios[f.scenario]
	var s Seed
	if sc.needsSeed {
		raw, err := os.ReadFile(f.seedFile)
		if err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
	}
	ds := newDrivers(f.targets, &s, f.workers)
	next := ds[0].nextUser
	// Consecutive runs share the seed's people; a cursor beside the seed file makes each run go
	// on where the last one stopped, so no run replays a TOTP code another just used (a random
	// start collided often with a few dozen people).
	cursor := f.seedFile + ".cursor"
	if sc.needsSeed && len(s.Users) > 0 {
		if raw, err := os.ReadFile(cursor); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && n >= 0 {
				next.Store(n % int64(len(s.Users)))
			}
		}
	}
	res, err := measure(ctx, ds, sc, f)
	if sc.needsSeed && len(s.Users) > 0 {
		os.WriteFile(cursor, []byte(strconv.FormatInt(next.Load()%int64(len(s.Users)), 10)), 0o600)
	}
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%-12s n=%d c=%-3d %8.0f req/s  p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  errors %d",
		res.Scenario, res.Targets, res.Workers, res.PerSecond, res.P50ms, res.P95ms, res.P99ms, res.Errors)
	if res.ServerCPUms > 0 {
		fmt.Fprintf(stdout, "  server %.3f CPU-ms/req  RSS %.0f MB", res.ServerCPUms, res.ServerRSSMB)
	}
	if len(f.dbProcs) > 0 {
		fmt.Fprintf(stdout, "  postgres %.3f CPU-ms/req (%d processes)", res.DBCPUms, res.DBProcs)
	}
	fmt.Fprintln(stdout)
	if res.FirstError != "" {
		fmt.Fprintln(stdout, "  first error:", res.FirstError)
	}
	return nil
}

// loopbackURL accepts only http(s) URLs on a loopback address or localhost.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--target %q: want http://127.0.0.1:PORT", raw)
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); (ip == nil || !ip.IsLoopback()) && h != "localhost" {
		return nil, fmt.Errorf("--target %q: only loopback targets (127.0.0.1, ::1, localhost) are allowed", raw)
	}
	u.Path = ""
	return u, nil
}

// worker is one client's state: its own connection pool share, and what its scenario set up
// (a refresh chain, an access token).
type worker struct {
	id      int
	d       *driver // its target, kept for the whole run (cookies and refresh chains stay on one node)
	refresh string
	access  string
}

type scenario struct {
	needsSeed bool
	setup     func(d *driver, ctx context.Context, w *worker) error
	op        func(d *driver, ctx context.Context, w *worker) error
}

// assignTargets spreads n workers over the targets round-robin: worker i talks to target
// i mod len(targets) for the whole run.
func assignTargets(n int, ds []*driver) []*worker {
	workers := make([]*worker, n)
	for i := range workers {
		workers[i] = &worker{id: i, d: ds[i%len(ds)]}
	}
	return workers
}

// measure runs the warm-up, then the measured window, and computes the figures.
func measure(ctx context.Context, ds []*driver, sc scenario, f runFlags) (*Result, error) {
	workers := assignTargets(f.workers, ds)
	for i := range workers {
		if sc.setup != nil {
			if err := sc.setup(workers[i].d, ctx, workers[i]); err != nil {
				return nil, fmt.Errorf("set up worker %d: %w", i, err)
			}
		}
	}
	var (
		measuring atomic.Bool
		requests  atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Value
		mu        sync.Mutex
		samples   = make([]time.Duration, 0, 1<<16)
	)
	ctx, cancel := context.WithTimeout(ctx, f.warmup+f.duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			flush := func() {
				mu.Lock()
				if room := maxSamples - len(samples); room > 0 {
					samples = append(samples, local[:min(len(local), room)]...)
				}
				mu.Unlock()
				local = local[:0]
			}
			defer flush()
			for ctx.Err() == nil {
				start := time.Now()
				err := sc.op(w.d, ctx, w)
				if !measuring.Load() || ctx.Err() != nil {
					continue
				}
				requests.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				local = append(local, time.Since(start))
				if len(local) == cap(local) {
					flush()
				}
			}
		}()
	}
	select {
	case <-time.After(f.warmup):
	case <-ctx.Done():
	}
	cpu0 := sumCPU(f.pids)
	db0 := dbCPU(f.dbProcs)
	t0 := time.Now()
	measuring.Store(true)
	<-ctx.Done()
	measuring.Store(false)
	elapsed := time.Since(t0)
	cpu1 := sumCPU(f.pids)
	db1 := dbCPU(f.dbProcs)
	wg.Wait()
	if ctxErr := context.Cause(ctx); !errors.Is(ctxErr, context.DeadlineExceeded) {
		return nil, ctxErr
	}
	slices.Sort(samples)
	res := &Result{Scenario: f.scenario, Targets: len(ds), Workers: f.workers, Seconds: elapsed.Seconds(), Requests: requests.Load(),
		Errors: errs.Load(), P50ms: pct(samples, 0.50), P95ms: pct(samples, 0.95), P99ms: pct(samples, 0.99)}
	res.PerSecond = float64(res.Requests-res.Errors) / res.Seconds
	if len(f.pids) > 0 && res.Requests > 0 {
		res.ServerCPUms = float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(res.Requests)
		for _, p := range f.pids {
			rss := procRSSMB(p)
			res.ServerRSS = append(res.ServerRSS, rss)
			res.ServerRSSMB = max(res.ServerRSSMB, rss)
		}
	}
	if len(f.dbProcs) > 0 && res.Requests > 0 {
		used, n := db1.since(db0)
		res.DBCPUms = float64(used.Microseconds()) / 1000 / float64(res.Requests)
		res.DBProcs = n
	}
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	return res, nil
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(float64(len(sorted))*p), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// errStatus is an unexpected HTTP answer.
func errStatus(what string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return fmt.Errorf("%s: HTTP %d: %s", what, resp.StatusCode, b)
}
