package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// The caregiver pages of the account console, as people use them: a patient invites a
// caregiver by email (after "Confirm it's you"), the caregiver opens the emailed link, signs in
// to their own account with their own second factor and accepts; the link works for nobody
// else and only once; the patient then removes the access.

var inviteLinkRe = regexp.MustCompile(`https?://[^\s]+/account/caregivers/accept\?token=[A-Za-z0-9_-]+`)

func inviteLink(t *testing.T, e *env, to string) string {
	t.Helper()
	for _, m := range e.node.Outbox.List() {
		if m.Channel == "email" && m.To == to {
			if l := inviteLinkRe.FindString(m.Body); l != "" {
				return l
			}
		}
	}
	t.Fatalf("no invitation link emailed to %s: %+v", to, e.node.Outbox.List())
	return ""
}

// followInvite opens the link in a browser without a session and signs in with the app's code;
// it must land on the caregivers page with the invitation to accept.
func (e *devEnv) followInvite(t *testing.T, br *browser, link, email, secret string) {
	t.Helper()
	br.get(link)
	br.submitLogin(e.issuer, email, "correct horse battery")
	f := br.formFields()
	f.Set("code", e.appCode(t, secret))
	br.post(e.issuer+"/mfa/verify", f)
	if br.status != 200 || !strings.Contains(br.body, "<h1>Caregivers</h1>") || !strings.Contains(br.body, `action="/account/caregiver-accept"`) {
		t.Fatalf("expected the caregivers page with the invitation, got %d: %.600s", br.status, br.body)
	}
}

func TestCaregiverInviteAcceptRevoke(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newDevEnv(t, b)
		pat, patSecret := e.appUser(t, "pat@example.org")
		carer, carerSecret := e.appUser(t, "carer@example.org")
		_, intruderSecret := e.appUser(t, "intruder@example.org")

		pb := newBrowser(t)
		e.accountSignIn(t, pb, "pat@example.org", patSecret)
		pb.get(e.issuer + "/account/caregivers")
		if pb.status != 200 || !strings.Contains(pb.body, "Nobody can act for you.") {
			t.Fatalf("caregivers page: %d %.300s", pb.status, pb.body)
		}

		// A bad address changes nothing and says what to fix, next to the field.
		e.act(pb, "/account/caregiver-invite", url.Values{"email": {"not an address"}, "access": {"limited"}})
		if pb.status != http.StatusBadRequest || !strings.Contains(pb.body, `href="#cg-email"`) || !strings.Contains(pb.body, `aria-invalid="true"`) {
			t.Errorf("bad email: %d %.400s", pb.status, pb.body)
		}
		// A stale session confirms first; the invitation goes out after the app's code.
		e.staleConfirmation(t)
		e.act(pb, "/account/caregiver-invite", url.Values{"email": {"carer@example.org"}, "access": {"limited"}, "expires": {"2099-12-31"}})
		if !strings.Contains(pb.body, "Confirm it") || outboxCount(e.env, "email", "carer@example.org") != 0 {
			t.Fatalf("invite from a stale session must confirm first: %d %.300s", pb.status, pb.body)
		}
		f := pb.formFields()
		f.Set("code", e.appCode(t, patSecret))
		pb.post(e.issuer+"/account/confirm", f)
		if !strings.Contains(pb.body, "Invitation sent.") || !strings.Contains(pb.body, "carer@example.org") {
			t.Fatalf("after confirming: %d %.500s", pb.status, pb.body)
		}
		link := inviteLink(t, e.env, "carer@example.org")

		// Someone else who gets hold of the link cannot use it.
		ib := newBrowser(t)
		e.followInvite(t, ib, link, "intruder@example.org", intruderSecret)
		e.act(ib, "/account/caregiver-accept", nil)
		if ib.status != http.StatusForbidden || !strings.Contains(ib.body, "another email address") {
			t.Errorf("accept by another account: %d %.300s", ib.status, ib.body)
		}

		// The caregiver accepts with their own account and second factor.
		cb := newBrowser(t)
		e.followInvite(t, cb, link, "carer@example.org", carerSecret)
		e.act(cb, "/account/caregiver-accept", nil)
		if cb.status != 200 || !strings.Contains(cb.body, "Invitation accepted.") || !strings.Contains(cb.body, `action="/account/caregiver-revoke"`) {
			t.Fatalf("accept: %d %.500s", cb.status, cb.body)
		}
		gs, err := e.st.ProxyGrantsOfCaregiver(e.ctx, carer.ID)
		if err != nil || len(gs) != 1 || gs[0].PatientID != pat.ID || gs[0].Access != store.ProxyLimited || gs[0].ExpiresAt == nil {
			t.Fatalf("grants after accepting: %+v %v", gs, err)
		}
		// The link is spent.
		ob := newBrowser(t)
		ob.get(link)
		if ob.status != http.StatusBadRequest || !strings.Contains(ob.body, "already used") {
			t.Errorf("second use of the link: %d %.300s", ob.status, ob.body)
		}

		// The patient sees the caregiver and removes the access.
		pb.get(e.issuer + "/account/caregivers")
		if !strings.Contains(pb.body, "Until 2099-12-31") || !strings.Contains(pb.body, `value="`+gs[0].ID+`"`) {
			t.Fatalf("patient's list: %.600s", pb.body)
		}
		e.act(pb, "/account/caregiver-revoke", url.Values{"grantID": {gs[0].ID}})
		if !strings.Contains(pb.body, "Access removed.") {
			t.Errorf("revoke: %d %.300s", pb.status, pb.body)
		}
		if g, _ := e.st.ProxyGrantByID(e.ctx, gs[0].ID); g.RevokedAt == nil || g.RevokedBy != pat.ID {
			t.Errorf("grant after revocation: %+v", g)
		}
		for _, ev := range []string{"proxy.invited", "proxy.accepted", "proxy.revoked"} {
			if e.auditCount(t, pat.ID, ev, "ok", "") == 0 {
				t.Errorf("no %s audit row with the patient as subject", ev)
			}
		}
	})
}

// TestCaregiverAcceptNeedsOwnSecondFactor: a caregiver whose account has no second factor is
// told to add one, and cannot accept with the password alone.
func TestCaregiverAcceptNeedsOwnSecondFactor(t *testing.T) {
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	_, patSecret := e.appUser(t, "pat@example.org")
	carer := e.user("carer@example.org", "correct horse battery")
	pb := newBrowser(t)
	e.accountSignIn(t, pb, "pat@example.org", patSecret)
	pb.get(e.issuer + "/account/caregivers")
	e.act(pb, "/account/caregiver-invite", url.Values{"email": {"carer@example.org"}, "access": {"full"}})
	link := inviteLink(t, e.env, "carer@example.org")

	cb := newBrowser(t)
	cb.get(link)
	cb.submitLogin(e.issuer, "carer@example.org", "correct horse battery")
	if cb.status != 200 || !strings.Contains(cb.body, "first add a second way to sign in") || strings.Contains(cb.body, `action="/account/caregiver-accept"`) {
		t.Fatalf("a caregiver without a second factor: %d %.600s", cb.status, cb.body)
	}
	e.act(cb, "/account/caregiver-accept", url.Values{"password": {"correct horse battery"}})
	if cb.status != http.StatusForbidden {
		t.Errorf("accept with the password alone: %d %.300s", cb.status, cb.body)
	}
	if gs, _ := e.st.ProxyGrantsOfCaregiver(e.ctx, carer.ID); len(gs) != 0 {
		t.Errorf("a grant without the caregiver's second factor: %+v", gs)
	}
}
