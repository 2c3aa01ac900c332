package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/admin"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestAdminMembersPaging: the team members page shows a page at a time with "Next page" and
// "Previous page" links that keep the filters, and everyone is reachable (nobody is cut off at a
// fixed limit as before).
func TestAdminMembersPaging(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	_, secret := e.adminUser(t, "admin@example.org")
	n := admin.MembersPageSize + 5
	for i := range n {
		u := &store.User{TenantID: e.tenant.ID, Email: fmt.Sprintf("p%03d@example.org", i), Role: store.RolePatient}
		if err := e.st.CreateUser(e.ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	br := newBrowser(t)
	e.adminSignIn(t, br, "admin@example.org", secret)
	br.get(e.issuer + "/admin/members?role=patient")
	seen := map[string]bool{}
	collect := func() {
		for i := range n {
			if addr := fmt.Sprintf("p%03d@example.org", i); strings.Contains(br.body, ">"+addr+"<") {
				if seen[addr] {
					t.Errorf("%s shown on two pages", addr)
				}
				seen[addr] = true
			}
		}
	}
	collect()
	if len(seen) != admin.MembersPageSize {
		t.Fatalf("first page shows %d people, want %d", len(seen), admin.MembersPageSize)
	}
	if strings.Contains(br.body, "Previous page") {
		t.Error("the first page links to a previous one")
	}
	next := br.link("Next page")
	if next == "" || !strings.Contains(next, "role=patient") || !strings.Contains(next, "page=2") {
		t.Fatalf("next link %q (it must keep the filter)", next)
	}
	br.get(e.issuer + next)
	collect()
	if len(seen) != n {
		t.Fatalf("the two pages show %d of %d people", len(seen), n)
	}
	if strings.Contains(br.body, "admin@example.org") {
		t.Error("the role filter was lost on page 2")
	}
	if strings.Contains(br.body, "Next page") || br.link("Previous page") == "" || !strings.Contains(br.body, "Page 2") {
		t.Fatalf("page 2 links: %.2000s", br.body)
	}
}

// link returns the href of the page's link whose text is text ("" when there is none), with
// HTML's &amp; undone.
func (b *browser) link(text string) string {
	i := strings.Index(b.body, ">"+text+"</a>")
	if i < 0 {
		return ""
	}
	j := strings.LastIndex(b.body[:i], `href="`)
	if j < 0 {
		return ""
	}
	href := b.body[j+len(`href="`):]
	href = href[:strings.Index(href, `"`)]
	return strings.ReplaceAll(href, "&amp;", "&")
}
