package server_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestBrowserCaregiverInviteAcceptChoose drives Chromium through the whole caregiver path, as
// two people on one computer would: the patient invites a caregiver from the account console,
// the caregiver opens the emailed link, signs in with their own account and code, accepts, and
// then, signing in to a proxy-capable application, picks the patient on the chooser; the
// application gets tokens for that patient acted for by the caregiver.
func TestBrowserCaregiverInviteAcceptChoose(t *testing.T) {
	ctx := newChrome(t, 360, 800)
	e := newDevEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	pat, patSecret := e.appUser(t, "pat@example.org")
	carer, carerSecret := e.appUser(t, "carer@example.org")
	id, sec := e.client(store.ClientWeb, func(c *store.Client) { c.Proxy = true; c.Name = "Family Health App" })
	r := e.rp(id, sec, "openid", "profile", "patient/Appointment.read", "patient/Observation.read")

	signIn := func(who, email, secret string) {
		t.Helper()
		step(t, ctx, who+": password",
			chromedp.WaitVisible(`#email`, chromedp.ByQuery),
			setValue(`#email`, email),
			chromedp.SendKeys(`#password`, "correct horse battery"+kb.Enter, chromedp.ByQuery),
			chromedp.WaitVisible(`#code`, chromedp.ByQuery))
		step(t, ctx, who+": the app's code",
			setValue(`#code`, e.appCode(t, secret)),
			chromedp.Submit(`#code`, chromedp.ByQuery))
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		step(t, ctx, "read "+sel, chromedp.WaitVisible(sel, chromedp.ByQuery), chromedp.Text(sel, &s, chromedp.ByQuery))
		return s
	}

	// The patient invites.
	step(t, ctx, "patient opens the console", chromedp.Navigate(e.issuer+"/account/caregivers"))
	signIn("patient", "pat@example.org", patSecret)
	step(t, ctx, "patient lands on the console", chromedp.WaitVisible(`a[href="/account/caregivers"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/account/caregivers"]`, chromedp.ByQuery))
	step(t, ctx, "invite",
		chromedp.WaitVisible(`#cg-email`, chromedp.ByQuery),
		setValue(`#cg-email`, "carer@example.org"),
		chromedp.Click(`#access-full`, chromedp.ByQuery),
		chromedp.Click(`form[action="/account/caregiver-invite"] button[type=submit]`, chromedp.ByQuery))
	if n := text(`.notice`); !strings.Contains(n, "Invitation sent") {
		t.Fatalf("after inviting: %q", n)
	}
	link := inviteLink(t, e.env, "carer@example.org")

	// The caregiver, on the same computer after the patient has gone, accepts.
	step(t, ctx, "caregiver opens the link", network.ClearBrowserCookies(), chromedp.Navigate(link))
	signIn("caregiver", "carer@example.org", carerSecret)
	step(t, ctx, "accept", chromedp.WaitVisible(`form[action="/account/caregiver-accept"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/account/caregiver-accept"] button`, chromedp.ByQuery))
	if n := text(`.notice`); !strings.Contains(n, "Invitation accepted") {
		t.Fatalf("after accepting: %q", n)
	}

	// The caregiver opens the application and chooses the patient.
	start, f := r.authURL()
	arrived := watchRedirect(ctx)
	step(t, ctx, "open the application", chromedp.Navigate(start), chromedp.WaitVisible(`fieldset legend`, chromedp.ByQuery))
	var self bool
	step(t, ctx, "Myself is the default", chromedp.Evaluate(`document.querySelector('#choice-self').checked`, &self))
	if !self {
		t.Error("the chooser does not default to Myself")
	}
	step(t, ctx, "choose the patient", chromedp.Click(`#choice-0`, chromedp.ByQuery),
		chromedp.Click(`form[action="/login/patient"] button[type=submit]`, chromedp.ByQuery))
	back := awaitRedirect(t, ctx, arrived, "after choosing")
	if back.Query().Get("state") != f.state {
		t.Fatalf("state = %q", back.Query().Get("state"))
	}
	tok, idt := r.exchange(back.Query().Get("code"), f)
	if idt.Subject != carer.ID {
		t.Errorf("ID token sub = %s, want the caregiver", idt.Subject)
	}
	at, err := r.verifier.Verify(e.ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	c := claims(t, at)
	if c["sub"] != pat.ID || actSub(c) != carer.ID || c["patient"] != pat.ID || tok.Extra("patient") != pat.ID ||
		c["scope"] != "openid profile patient/Appointment.read patient/Observation.read" {
		t.Errorf("access token for the chosen patient: %v (response patient %v)", c, tok.Extra("patient"))
	}
}
