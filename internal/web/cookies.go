package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"
)

// Cookies sets Tessera's cookies with the same flags everywhere: HttpOnly, SameSite=Lax, and —
// whenever the issuer is https — Secure with the __Host- prefix (no Domain, Path=/), so a
// sibling subdomain can neither read nor plant them.
type Cookies struct {
	Secure bool
}

func (c Cookies) name(base string) string {
	if c.Secure {
		return "__Host-" + base
	}
	return base
}

// Set writes a cookie; maxAge 0 makes it a browser-session cookie.
func (c Cookies) Set(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name(base), Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// Get reads a cookie's value ("" when absent).
func (c Cookies) Get(r *http.Request, base string) string {
	k, err := r.Cookie(c.name(base))
	if err != nil {
		return ""
	}
	return k.Value
}

// Clear removes a cookie.
func (c Cookies) Clear(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{Name: c.name(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
}

const csrfCookie = "tessera_csrf"

// CSRFToken returns the double-submit token for this browser, creating its cookie if needed.
// Forms carry it in a hidden field; CheckCSRF compares the two in constant time. It backs up
// the Origin / Sec-Fetch-Site check (http.CrossOriginProtection) that guards every page POST.
func (c Cookies) CSRFToken(w http.ResponseWriter, r *http.Request) string {
	if v := c.Get(r, csrfCookie); len(v) >= 32 {
		return v
	}
	v := randomValue()
	c.Set(w, csrfCookie, v, 0)
	return v
}

// CheckCSRF reports whether the form's token matches the cookie.
func (c Cookies) CheckCSRF(r *http.Request) bool {
	cookie := c.Get(r, csrfCookie)
	form := r.PostFormValue("csrf")
	return len(cookie) >= 32 && subtle.ConstantTimeCompare([]byte(cookie), []byte(form)) == 1
}

func randomValue() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
