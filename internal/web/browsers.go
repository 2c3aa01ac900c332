package web

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tessera-health/tessera/internal/audit"
	"github.com/tessera-health/tessera/internal/i18n"
	"github.com/tessera-health/tessera/internal/store"
)

// A sign-in from a browser Tessera has not seen the person use emails them a notice. "Seen"
// means the browser carries a tessera_browser cookie (a random token, kept a year) whose keyed
// hash is stored for that person. The account's very first browser is recorded without a
// notice: at registration or a first sign-in it would only be noise.

const browserCookie = "tessera_browser"

// KnownBrowserTTL is how long the browser cookie lasts; the janitor forgets browsers not seen
// for longer.
const KnownBrowserTTL = 365 * 24 * time.Hour

// seeBrowser runs when a sign-in completes (not a silent SSO reuse): it gives the browser its
// cookie if it has none, records it for the person, and emails the notice when it is new to
// an account that already had others. Failures are logged: the notice never blocks a sign-in.
func (l *Login) seeBrowser(w http.ResponseWriter, r *http.Request, se *store.Session, clientID string) {
	if l.Browsers == nil {
		return
	}
	ctx := r.Context()
	value := l.cookies.Get(r, browserCookie)
	if len(value) != 43 { // randomValue's length: anything else was not set by us
		value = randomValue()
	}
	l.cookies.Set(w, browserCookie, value, KnownBrowserTTL) // refreshed at every sign-in
	isNew, first, err := l.st.SeeBrowser(ctx, se.UserID, l.Browsers.Sum(value))
	if err != nil {
		slog.ErrorContext(ctx, "login: record browser", "err", err)
		return
	}
	if !isNew {
		return
	}
	req := audit.RequestFrom(ctx)
	browser, os := userAgentDevice(req.UserAgent)
	detail := deviceWords(nil, browser, os)
	if first {
		detail += "; the account's first browser, no notice"
	} else {
		detail += "; notice emailed"
	}
	l.audit.Record(ctx, &store.AuditEvent{TenantID: se.TenantID, Event: "login.new_device", Result: "ok",
		ActorID: se.UserID, SubjectID: se.UserID, ClientID: clientID, Detail: detail})
	if first {
		return
	}
	u, err := l.st.UserByID(ctx, se.UserID)
	if err != nil {
		slog.ErrorContext(ctx, "login: new browser notice", "err", err)
		return
	}
	t, err := l.st.TenantByID(ctx, u.TenantID)
	if err != nil {
		slog.ErrorContext(ctx, "login: new browser notice", "err", err)
		return
	}
	ip := req.IP
	if ip == "" {
		ip = "?"
	}
	loc := l.pages.Language(nil, r, nil, u.Locale)
	l.notifyUser(r, u, t, "new_device", map[string]any{"Device": deviceWords(loc, browser, os), "IP": ip})
}

// deviceWords says browser and os in plain words ("Chrome on Android", "a web browser"), in
// loc's language; with a nil loc, in English (for the audit log).
func deviceWords(loc *i18n.Localizer, browser, os string) string {
	if loc == nil {
		if browser == "" {
			browser = "a web browser"
		}
		if os == "" {
			return browser
		}
		return browser + " on " + os
	}
	if browser == "" {
		browser = loc.T("device.browser")
	}
	if os == "" {
		return browser
	}
	return loc.T("device.on", "Browser", browser, "OS", os)
}

// userAgentDevice reads a browser's and an operating system's everyday names from a User-Agent
// header ("Chrome", "Android"); either is "" when the header does not say. It is a description
// for a person, not a security check: a User-Agent is whatever the client sends.
func userAgentDevice(ua string) (browser, os string) {
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(ua, x) {
				return true
			}
		}
		return false
	}
	// Order matters: Edge, Opera and Samsung Internet also say Chrome and Safari; Chrome says
	// Safari; iPhones say "like Mac OS X"; Android says Linux.
	switch {
	case has("Edg/", "EdgA/", "EdgiOS/", "Edge/"):
		browser = "Edge"
	case has("OPR/", "Opera"):
		browser = "Opera"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Firefox/", "FxiOS/"):
		browser = "Firefox"
	case has("Chrome/", "CriOS/", "Chromium/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	}
	switch {
	case has("iPhone", "iPod"):
		os = "iPhone"
	case has("iPad"):
		os = "iPad"
	case has("Android"):
		os = "Android"
	case has("Windows"):
		os = "Windows"
	case has("CrOS"):
		os = "ChromeOS"
	case has("Macintosh", "Mac OS X"):
		os = "macOS"
	case has("Linux", "X11"):
		os = "Linux"
	}
	return browser, os
}
