package server_test

import (
	"strings"

	"github.com/pquerna/otp"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// loginBudget is what one complete login may cost per backend: statements (BEGIN and COMMIT not
// counted) and transactions. Before session 3 of the performance work it was 41/5 on SQLite and
// 42/5 on PostgreSQL, after it 24/2 and 21/2; the performance issue's target is 15 statements on
// PostgreSQL, met in session 4.
var loginBudget = map[string]struct{ statements, transactions int64 }{
	"sqlite":   {20, 2},
	"postgres": {15, 1},
}

// TestLoginStatementBudget counts the SQL statements of one complete sign-in — authorize, the
// sign-in page, password, authenticator code, callback, code exchange with an ID and a refresh
// token — on each backend. The performance issue's budget is 15 per login on PostgreSQL.
func TestLoginStatementBudget(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b, func(o *server.Options) { o.CacheTTL = time.Minute })
		e.tenant.MFAMode = store.MFARequired
		if err := e.st.UpdateTenant(e.ctx, e.tenant); err != nil {
			t.Fatal(err)
		}
		id, sec := e.client(store.ClientWeb, nil)
		// Two people, enrolled with the previous step's code so that the sign-ins can use the
		// current one (a code is never accepted twice).
		enroll := func(email string) string {
			u := e.user(email, "correct horse battery")
			en, err := e.node.Login.TOTP.Begin(e.ctx, u, e.tenant.Name)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := otp.NewKeyFromURL(en.URL)
			f, _ := e.st.FactorByID(e.ctx, u.ID, en.FactorID)
			if err := e.node.Login.TOTP.Confirm(e.ctx, f, codeFor(t, k.Secret(), time.Now().Add(-30*time.Second))); err != nil {
				t.Fatal(err)
			}
			return k.Secret()
		}
		secrets := map[string]string{"warm@example.org": enroll("warm@example.org"), "pat@example.org": enroll("pat@example.org")}
		r := e.rp(id, sec, "openid", "profile", "email", "offline_access")
		signIn := func(email string, tr *store.StatementTrace) {
			br := newBrowser(t)
			start, f := r.authURL()
			e.st.Trace(tr)
			defer e.st.Trace(nil)
			br.get(start)
			br.submitLogin(e.issuer, email, "correct horse battery")
			fields := br.formFields()
			fields.Set("code", codeFor(t, secrets[email], time.Now()))
			br.post(e.issuer+"/mfa/verify", fields)
			r.exchange(br.code(f), f)
		}
		signIn("warm@example.org", nil) // warm the caches (client, keys, tenant) as a running node has them
		var sqls []string
		tr := &store.StatementTrace{OnStatement: func(s string) { sqls = append(sqls, s) }}
		signIn("pat@example.org", tr)
		n, txs := tr.Statements.Load(), tr.Transactions.Load()
		t.Logf("%s: %d statements, %d transactions per login:\n  %s", b.Name, n, txs, strings.Join(sqls, "\n  "))
		// Statement counts are deterministic: a change that adds one fails here. Lower the
		// budget when a change saves one (see BENCHMARKS.md, session 3).
		budget := loginBudget[b.Name]
		if n > budget.statements || txs > budget.transactions {
			t.Errorf("%s: a login costs %d statements and %d transactions; the budget is %d and %d (the statements are listed above)",
				b.Name, n, txs, budget.statements, budget.transactions)
		} else if n < budget.statements {
			t.Logf("%s: %d statements, under the budget of %d: lower loginBudget", b.Name, n, budget.statements)
		}
	})
}
