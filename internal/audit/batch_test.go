package audit_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/secret"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestBatch: a handler's events are on their tenants' chains, in the order recorded, before the
// first byte of its response reaches the client (and when it writes nothing, once it returns);
// one recorded after that is written at once; the chains verify.
func TestBatch(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			box, _ := secret.NewBox(bytes.Repeat([]byte{3}, 32))
			h := box.Hasher("audit-chain")
			log := audit.New(st, h)
			ctx := context.Background()
			events := func(tenant string) []string {
				es, err := st.AuditChain(ctx, tenant, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, e := range es {
					out = append(out, e.Event)
				}
				return out
			}
			log.Record(ctx, &store.AuditEvent{TenantID: "t1", Event: "before", Result: "ok"})

			var late func()
			handler := log.Batch(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, e := range []struct{ tenant, event string }{{"t1", "factor"}, {"t2", "other"}, {"t1", "browser"}, {"t1", "login"}} {
					log.Record(r.Context(), &store.AuditEvent{TenantID: e.tenant, Event: e.event, Result: "ok"})
				}
				if got := events("t1"); !slices.Equal(got, []string{"before"}) {
					t.Errorf("written while the handler runs: %v", got)
				}
				late = func() { log.Record(r.Context(), &store.AuditEvent{TenantID: "t2", Event: "late", Result: "ok"}) }
				w.WriteHeader(http.StatusFound)
			}))
			rec := &checkedWriter{ResponseRecorder: httptest.NewRecorder(), check: func() {
				if got := events("t1"); !slices.Equal(got, []string{"before", "factor", "browser", "login"}) {
					t.Errorf("tenant t1's chain when the response starts: %v", got)
				}
				if got := events("t2"); !slices.Equal(got, []string{"other"}) {
					t.Errorf("tenant t2's chain when the response starts: %v", got)
				}
			}}
			handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
			if !rec.checked || rec.Code != http.StatusFound {
				t.Fatalf("response %d, checked %v", rec.Code, rec.checked)
			}
			late()
			if got := events("t2"); !slices.Equal(got, []string{"other", "late"}) {
				t.Errorf("an event after the response started: t2's chain %v", got)
			}

			// A handler that writes nothing: its events are written when it returns.
			log.Batch(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				log.Record(r.Context(), &store.AuditEvent{TenantID: "t1", Event: "silent", Result: "ok"})
			})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			if got := events("t1"); len(got) != 5 || got[4] != "silent" {
				t.Errorf("t1's chain after a handler that wrote nothing: %v", got)
			}

			problems, n, err := audit.Verify(ctx, st, h, "")
			if err != nil || len(problems) != 0 || n != 7 {
				t.Errorf("verify: %v, %d events, %v", problems, n, err)
			}
		})
	}
}

// checkedWriter runs check when the response's header is written.
type checkedWriter struct {
	*httptest.ResponseRecorder
	check   func()
	checked bool
}

func (c *checkedWriter) WriteHeader(code int) {
	c.check()
	c.checked = true
	c.ResponseRecorder.WriteHeader(code)
}
