// Command tessera-bench drives a running Tessera over real HTTP and reports what it costs.
//
//	tessera-bench seed --tessera ./tessera --database URL [--users 1000] > bench.json
//	tessera-bench bulk --database URL [--tenant bench] [--sessions 100000]
//	tessera-bench run  --target http://127.0.0.1:8080 [--target …] --seed bench.json --scenario cc
//	                   [--workers 8] [--duration 10s] [--warmup 2s] [--pid PID …] [--db-pid postgres:DB]
//
// seed sets a tenant, clients and users up through the tessera CLI (the same contract an
// operator uses): `tenant create`, `client create`, and `user import` with one shared argon2id
// hash and a TOTP secret per user, and prints what the runs need as JSON. run sends one scenario
// from N workers for D seconds after a warm-up and prints requests per second, latency
// percentiles, errors and — given the server's PID — the server's CPU milliseconds per request
// and its resident memory, read from /proc. bulk fills the database with live sessions and
// refresh tokens (load for the "100,000 sessions" runs). Several --target run one scenario
// against several nodes at once (workers spread round-robin, each keeping its node); --db-pid
// adds PostgreSQL's own CPU per request.
//
// It only talks to loopback addresses, and workers and durations are bounded, so a typo cannot
// turn it on someone else's server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `tessera-bench: load driver for a running Tessera (loopback only).

  tessera-bench seed --tessera PATH --database URL [--users N] [--tenant NAME]
  tessera-bench bulk --database URL [--tenant NAME] [--sessions N]
  tessera-bench run --target URL [--target URL …] --seed FILE --scenario NAME [--workers N]
                    [--duration D] [--warmup D] [--pid PID …] [--db-pid PID|postgres|postgres:DB …] [--json]

Scenarios: cc (client_credentials), refresh (refresh_token with rotation, one chain per worker),
login (authorize → password → TOTP → code → tokens, PKCE), login-cross (the same, the steps
after the password on the next --target), userinfo, introspect, jwks, discovery.
Workers go round-robin over the targets and keep theirs; --pid CPU is summed over the PIDs.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tessera-bench:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"a command is required"}
	}
	switch args[0] {
	case "seed":
		return seed(ctx, args[1:], stdout, stderr)
	case "bulk":
		return bulk(ctx, args[1:], stdout, stderr)
	case "run":
		return run(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
