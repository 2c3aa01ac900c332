package server_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/server"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/store/storetest"
)

// These tests run a node whose phone provider is a local stand-in for the Twilio REST API,
// reached through the real delivery.Twilio adapter (in retries), and play Twilio's side of the
// callbacks: a signed status report, a key pressed on a "press 1 to confirm" call.

const (
	twilioSID   = "AC0123456789abcdef"
	twilioToken = "twilio-auth-token"
	voiceNumber = "+442079460958"
	smsNumber   = "+447400123456"
)

// fakeTwilioAPI records what the node asks of the API and answers with canned replies (201 once
// they run out). It checks the account in the path and basic auth as Twilio does.
type fakeTwilioAPI struct {
	*httptest.Server
	mu      sync.Mutex
	got     []twilioRequest
	replies []twilioReply
}

type twilioRequest struct {
	resource string // Messages.json or Calls.json
	form     url.Values
}

type twilioReply struct {
	status int
	body   string
}

func newFakeTwilioAPI(t *testing.T) *fakeTwilioAPI {
	f := &fakeTwilioAPI{}
	mux := http.NewServeMux()
	handle := func(resource string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if user, pass, ok := r.BasicAuth(); !ok || user != twilioSID || pass != twilioToken || r.PathValue("sid") != twilioSID {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
				return
			}
			if err := r.ParseForm(); err != nil {
				t.Errorf("fake twilio: %v", err)
			}
			f.mu.Lock()
			f.got = append(f.got, twilioRequest{resource, r.PostForm})
			reply := twilioReply{status: http.StatusCreated, body: `{"sid": "SM0001", "status": "queued"}`}
			if len(f.replies) > 0 {
				reply, f.replies = f.replies[0], f.replies[1:]
			}
			f.mu.Unlock()
			w.WriteHeader(reply.status)
			io.WriteString(w, reply.body)
		}
	}
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", handle("Messages.json"))
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Calls.json", handle("Calls.json"))
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilioAPI) reply(rs ...twilioReply) {
	f.mu.Lock()
	f.replies = append(f.replies, rs...)
	f.mu.Unlock()
}

func (f *fakeTwilioAPI) requests() []twilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// last is the newest request for resource.
func (f *fakeTwilioAPI) last(t *testing.T, resource string) url.Values {
	t.Helper()
	got := f.requests()
	for i := len(got) - 1; i >= 0; i-- {
		if got[i].resource == resource {
			return got[i].form
		}
	}
	t.Fatalf("nothing was sent to %s: %+v", resource, got)
	return nil
}

// twilioEnv is a node using the fake as its phone provider, with a mailbox for notices and
// send caps out of the way (each test counts its own sends).
type twilioEnv struct {
	*env
	api  *fakeTwilioAPI
	mail *delivery.Outbox
}

func newTwilioEnv(t *testing.T, b storetest.Backend) *twilioEnv {
	api := newFakeTwilioAPI(t)
	mail := &delivery.Outbox{}
	e := newEnv(t, b, func(o *server.Options) {
		tw := &delivery.Twilio{BaseURL: api.URL, AccountSID: twilioSID, AuthToken: twilioToken, From: "+15005550006",
			StatusCallback: o.Issuer + server.TwilioStatusPath}
		o.Twilio = tw
		o.PhoneSender = &delivery.Retry{Sender: tw, Base: time.Millisecond,
			Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
		o.EmailSender = mail
		o.Codes.Limits = store.SendLimits{Cooldown: time.Nanosecond, PerUser: 100, PerDestination: 100, PerIP: 100}
	})
	e.requiredMFA()
	return &twilioEnv{env: e, api: api, mail: mail}
}

// phoneUser is a patient whose only second factor is kind (sms or voice) at number.
func (e *twilioEnv) phoneUser(email, kind, number string) *store.User {
	e.t.Helper()
	u := e.user(email, "correct horse battery")
	f := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: kind, Label: number}
	if err := e.st.CreateFactor(e.ctx, f); err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.ActivateFactor(e.ctx, u.ID, f.ID); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// callback posts form to the node as Twilio would: signed with token over signedURL (unsigned
// when token is ""), with the Host header host when set.
func (e *twilioEnv) callback(path string, form url.Values, token, signedURL, host string) (int, string, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("X-Twilio-Signature", delivery.TwilioSignature(token, signedURL, form))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// press plays the person pressing digits on the call whose TwiML sent the key to confirmURL.
func (e *twilioEnv) press(confirmURL, digits string) (int, string) {
	e.t.Helper()
	u, _ := url.Parse(confirmURL)
	form := url.Values{"AccountSid": {twilioSID}, "CallSid": {"CA0001"}, "Digits": {digits}, "CallStatus": {"in-progress"}}
	status, _, body := e.callback(u.Path, form, twilioToken, confirmURL, "")
	return status, body
}

func (e *twilioEnv) events(subjectID string) []store.AuditEvent {
	es, _ := e.st.AuditEvents(e.ctx, e.tenant.ID, subjectID, 100)
	return es
}

func hasEvent(es []store.AuditEvent, event, result string) bool {
	return slices.ContainsFunc(es, func(ev store.AuditEvent) bool { return ev.Event == event && ev.Result == result })
}

var (
	gatherAction = regexp.MustCompile(`<Gather [^>]*action="([^"]+)"`)
	spokenCode   = regexp.MustCompile(`\d, \d, \d, \d, \d, \d`)
)

// TestTwilioSMSCode: a texted code goes through the Twilio Messages API with the sending
// number and the status callback URL, and signs the person in (amr sms).
func TestTwilioSMSCode(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newTwilioEnv(t, b)
		id, sec := e.client(store.ClientWeb, nil)
		e.phoneUser("pat@example.org", "sms", smsNumber)
		r := e.rp(id, sec)
		br := newBrowser(t)
		start, fl := r.authURL()
		br.get(start)
		br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		if !strings.Contains(br.body, "Check your text messages") || strings.Contains(br.body, "/mfa/call-confirm") {
			t.Fatalf("expected the text code page, with no press-1 call: %d %.400s", br.status, br.body)
		}
		msg := e.api.last(t, "Messages.json")
		if msg.Get("To") != smsNumber || msg.Get("From") != "+15005550006" ||
			msg.Get("StatusCallback") != e.issuer+"/hooks/twilio/status" || !strings.Contains(msg.Get("Body"), "Riverside Health") {
			t.Fatalf("the Messages request: %v", msg)
		}
		fields := br.formFields()
		fields.Set("code", sixDigits.FindString(msg.Get("Body")))
		br.post(e.issuer+"/mfa/verify", fields)
		_, idt := r.exchange(br.code(fl), fl)
		if amr := toStrings(claims(t, idt)["amr"]); !slices.Equal(amr, []string{"pwd", "sms", "mfa"}) {
			t.Errorf("amr = %v", amr)
		}
	})
}

// TestTwilioVoiceCode: a voice code is a Calls request whose TwiML reads the code digit by
// digit, twice, in the person's language; the code read signs them in (amr tel).
func TestTwilioVoiceCode(t *testing.T) {
	e := newTwilioEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	id, sec := e.client(store.ClientWeb, nil)
	e.phoneUser("pat@example.org", "voice", voiceNumber)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, fl := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, "Answer your phone") {
		t.Fatalf("expected the call code page: %d %.400s", br.status, br.body)
	}
	call := e.api.last(t, "Calls.json")
	twiml := call.Get("Twiml")
	spoken := spokenCode.FindAllString(twiml, -1)
	if call.Get("To") != voiceNumber || len(spoken) != 2 || spoken[0] != spoken[1] ||
		!strings.Contains(twiml, `<Say language="en-US">`) || strings.Contains(twiml, "<Gather") {
		t.Fatalf("the call must read the code digit by digit, twice: %s", twiml)
	}
	fields := br.formFields()
	fields.Set("code", strings.ReplaceAll(spoken[0], ", ", ""))
	br.post(e.issuer+"/mfa/verify", fields)
	_, idt := r.exchange(br.code(fl), fl)
	if amr := toStrings(claims(t, idt)["amr"]); !slices.Equal(amr, []string{"pwd", "tel", "mfa"}) {
		t.Errorf("amr = %v", amr)
	}
}

// startPressOne signs in as the voice user and asks for a press-1 call; it returns the URL the
// call's key goes to.
func (e *twilioEnv) startPressOne(t *testing.T, br *browser, start string) string {
	t.Helper()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, `action="/mfa/call-confirm"`) || !strings.Contains(br.body, "Call me and I&#39;ll press 1 instead") {
		t.Fatalf("the voice code page must offer a press-1 call: %d %.600s", br.status, br.body)
	}
	br.post(e.issuer+"/mfa/call-confirm", br.formFields())
	if br.status != 200 || !strings.Contains(seenText(br.body), "We are calling •••• 0958. Answer and press 1.") ||
		!strings.Contains(br.body, `role="status"`) || !strings.Contains(br.body, `action="/mfa/call-check"`) {
		t.Fatalf("expected the waiting page: %d %.600s", br.status, br.body)
	}
	twiml := e.api.last(t, "Calls.json").Get("Twiml")
	m := gatherAction.FindStringSubmatch(twiml)
	if m == nil || !strings.Contains(twiml, "This is Riverside Health") || !strings.Contains(twiml, "press 1") {
		t.Fatalf("the call must ask for a key and post it back: %s", twiml)
	}
	confirmURL := html.UnescapeString(m[1])
	if !strings.HasPrefix(confirmURL, e.issuer+"/hooks/twilio/confirm/") {
		t.Fatalf("confirm URL %q", confirmURL)
	}
	return confirmURL
}

func (b *browser) callState(issuer string) string {
	b.t.Helper()
	b.get(issuer + "/mfa/call-status?authRequestID=" + url.QueryEscape(b.formFields().Get("authRequestID")))
	var s struct{ State string }
	if err := json.Unmarshal([]byte(b.body), &s); err != nil {
		b.t.Fatalf("call status %d %q: %v", b.status, b.body, err)
	}
	return s.State
}

// TestTwilioPressOne: "press 1 to confirm" from start to finish, with the attacks on it: a
// forged or unsigned key press, an answer used by another browser, a reused token, and the
// person pressing 9.
func TestTwilioPressOne(t *testing.T) {
	eachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := newTwilioEnv(t, b)
		id, sec := e.client(store.ClientWeb, nil)
		u := e.phoneUser("pat@example.org", "voice", voiceNumber)
		r := e.rp(id, sec)
		br := newBrowser(t)
		start, fl := r.authURL()
		confirmURL := e.startPressOne(t, br, start)
		waiting := br.formFields()

		// Nothing pressed yet: the page says so and waits.
		br.post(e.issuer+"/mfa/call-check", waiting)
		if br.status != 200 || !strings.Contains(br.body, "We haven&#39;t heard your answer yet") {
			t.Fatalf("before any answer: %d %.400s", br.status, br.body)
		}
		if s := br.callState(e.issuer); s != "pending" {
			t.Fatalf("call status = %q", s)
		}

		// Forged answers change nothing: unsigned, signed with another token, signed over the
		// URL the caller's Host header names.
		u0, _ := url.Parse(confirmURL)
		press := url.Values{"AccountSid": {twilioSID}, "CallSid": {"CA0001"}, "Digits": {"1"}}
		for name, c := range map[string]struct{ token, signed, host string }{
			"unsigned":       {"", "", ""},
			"wrong token":    {"not-the-token", confirmURL, ""},
			"other host":     {twilioToken, "http://attacker.example" + u0.Path, "attacker.example"},
			"other token":    {twilioToken, e.issuer + "/hooks/twilio/confirm/other", ""},
			"query appended": {twilioToken, confirmURL + "?x=1", ""},
		} {
			if status, _, _ := e.callback(u0.Path, press, c.token, c.signed, c.host); status != http.StatusForbidden {
				t.Errorf("%s key press: %d, want 403", name, status)
			}
		}
		br.post(e.issuer+"/mfa/call-check", waiting)
		if br.last != nil || !strings.Contains(br.body, "We haven&#39;t heard your answer yet") {
			t.Fatalf("a forged key press let the sign-in through: %d %.300s", br.status, br.body)
		}

		// Another key asks again; 1 approves.
		if status, body := e.press(confirmURL, "5"); status != 200 || !strings.Contains(body, "<Gather") {
			t.Fatalf("another key must ask again: %d %s", status, body)
		}
		status, body := e.press(confirmURL, "1")
		if status != 200 || !strings.Contains(body, "Thank you. You can return to your screen.") || !strings.Contains(body, "<Hangup/>") {
			t.Fatalf("pressing 1: %d %s", status, body)
		}
		if status, body := e.press(confirmURL, "9"); status != 200 || strings.Contains(body, "stopped") {
			t.Fatalf("an answered call took a second answer: %d %s", status, body)
		}

		// Another browser session, even on the same sign-in request, cannot use the approval.
		other := newBrowser(t)
		other.get(e.issuer + "/login?authRequestID=" + url.QueryEscape(waiting.Get("authRequestID")))
		other.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
		other.post(e.issuer+"/mfa/call-check", other.formFields())
		if other.last != nil || other.status == 200 && strings.Contains(other.body, "We haven") {
			t.Fatalf("another browser used the approval: %d %.300s", other.status, other.body)
		}
		if !strings.Contains(other.body, "We did not get an answer to the call in time") {
			t.Errorf("another browser: %d %.300s", other.status, other.body)
		}

		// The browser that asked continues: the ID token says tel and mfa.
		if s := br.callState(e.issuer); s != "approved" {
			t.Fatalf("call status = %q", s)
		}
		br.post(e.issuer+"/mfa/call-check", waiting)
		_, idt := r.exchange(br.code(fl), fl)
		if amr := toStrings(claims(t, idt)["amr"]); !slices.Equal(amr, []string{"pwd", "tel", "mfa"}) {
			t.Errorf("amr = %v", amr)
		}
		if !hasEvent(e.events(u.ID), "mfa.voice", "ok") || !hasEvent(e.events(u.ID), "mfa.call_placed", "ok") {
			t.Error("the press-1 sign-in is not audited")
		}
		// The token is spent.
		if status, body := e.press(confirmURL, "1"); status != 200 || !strings.Contains(body, "has ended") {
			t.Errorf("a used token: %d %s", status, body)
		}

		// Pressing 9: the sign-in stops, it counts as a wrong answer, and the person is told.
		br = newBrowser(t)
		start, _ = r.authURL()
		confirmURL = e.startPressOne(t, br, start)
		status, body = e.press(confirmURL, "9")
		if status != 200 || !strings.Contains(body, "We have stopped this sign-in.") {
			t.Fatalf("pressing 9: %d %s", status, body)
		}
		if got := e.mustUser("pat@example.org"); got.MFAFailures != 1 || got.LockedAt != nil {
			t.Errorf("a 9 must count as one wrong answer: %d", got.MFAFailures)
		}
		if !hasEvent(e.events(u.ID), "mfa.call_denied", "failed") {
			t.Error("mfa.call_denied not audited")
		}
		if !slices.ContainsFunc(e.mail.List(), func(m delivery.Message) bool {
			return m.To == "pat@example.org" && m.Subject == "Someone tried to sign in to your account"
		}) {
			t.Errorf("no notice was emailed: %+v", e.mail.List())
		}
		br.post(e.issuer+"/mfa/call-check", br.formFields())
		if br.last != nil || br.status != 401 || !strings.Contains(br.body, "answered by pressing 9") {
			t.Fatalf("after a 9: %d %.400s", br.status, br.body)
		}
	})
}

// TestTwilioPressOneNotOffered: without Twilio (the dev outbox here) there is no signed
// callback, so no press-1 call: neither the button nor the routes.
func TestTwilioPressOneNotOffered(t *testing.T) {
	e := newEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite}, func(o *server.Options) { o.Dev = true })
	e.requiredMFA()
	id, sec := e.client(store.ClientWeb, nil)
	u := e.user("pat@example.org", "correct horse battery")
	f := &store.Factor{UserID: u.ID, TenantID: u.TenantID, Kind: "voice", Label: voiceNumber}
	if err := e.st.CreateFactor(e.ctx, f); err != nil {
		t.Fatal(err)
	}
	e.st.ActivateFactor(e.ctx, u.ID, f.ID)
	r := e.rp(id, sec)
	br := newBrowser(t)
	start, _ := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if !strings.Contains(br.body, "Answer your phone") || strings.Contains(br.body, "call-confirm") {
		t.Fatalf("the dev outbox must not offer press 1: %.400s", br.body)
	}
	br.post(e.issuer+"/mfa/call-confirm", br.formFields())
	if br.status != 404 {
		t.Errorf("/mfa/call-confirm without Twilio: %d", br.status)
	}
	for _, p := range []string{"/hooks/twilio/status", "/hooks/twilio/confirm/x"} {
		if status, _, _ := (&twilioEnv{env: e}).callback(p, url.Values{"CallStatus": {"busy"}}, twilioToken, e.issuer+p, ""); status != 404 {
			t.Errorf("%s without Twilio: %d, want 404", p, status)
		}
	}
}

// TestTwilioRetryAndFailure: transient API errors are retried and the text arrives; a final
// one (an invalid number) is shown to the person in plain words and audited.
func TestTwilioRetryAndFailure(t *testing.T) {
	e := newTwilioEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	id, sec := e.client(store.ClientWeb, nil)
	u := e.phoneUser("pat@example.org", "sms", smsNumber)
	r := e.rp(id, sec)

	e.api.reply(twilioReply{500, `{"code": 20500, "message": "Internal Server Error"}`},
		twilioReply{503, `{"code": 20503, "message": "Service Unavailable"}`})
	br := newBrowser(t)
	start, fl := r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if n := len(e.api.requests()); n != 3 || br.status != 200 || !strings.Contains(br.body, "Check your text messages") {
		t.Fatalf("two failures then a success: %d requests, page %d %.300s", n, br.status, br.body)
	}
	fields := br.formFields()
	fields.Set("code", sixDigits.FindString(e.api.last(t, "Messages.json").Get("Body")))
	br.post(e.issuer+"/mfa/verify", fields)
	r.exchange(br.code(fl), fl)

	e.st.ExecRaw(e.ctx, "UPDATE otp_sends SET at = at - 60")
	e.api.reply(twilioReply{400, `{"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}`})
	before := len(e.api.requests())
	br = newBrowser(t)
	start, _ = r.authURL()
	br.get(start)
	br.submitLogin(e.issuer, "pat@example.org", "correct horse battery")
	if br.status != 503 || !strings.Contains(br.body, "We couldn&#39;t send the text. Try again or choose another method.") ||
		strings.Contains(br.body, "21211") {
		t.Fatalf("a final failure: %d %.500s", br.status, br.body)
	}
	if n := len(e.api.requests()) - before; n != 1 {
		t.Errorf("a 400 must not be retried: %d requests", n)
	}
	if !hasEvent(e.events(u.ID), "mfa.code_sent", "failed") {
		t.Error("the failed send is not audited")
	}
}

// TestTwilioStatusCallback: a signed report of an undelivered text is audited and counted; an
// unsigned one, or one signed over the caller's Host, is refused and records nothing.
func TestTwilioStatusCallback(t *testing.T) {
	e := newTwilioEnv(t, storetest.Backend{Name: "sqlite", Open: storetest.OpenSQLite})
	statusURL := e.issuer + "/hooks/twilio/status"
	undelivered := url.Values{"AccountSid": {twilioSID}, "MessageSid": {"SM0123456789abcdef"}, "MessageStatus": {"undelivered"},
		"ErrorCode": {"30003"}, "To": {smsNumber}}
	systemEvents := func() []store.AuditEvent {
		es, _ := e.st.AuditEvents(e.ctx, "", "", 100)
		return es
	}

	if status, _, _ := e.callback("/hooks/twilio/status", undelivered, "", "", ""); status != http.StatusForbidden {
		t.Errorf("unsigned: %d, want 403", status)
	}
	if status, _, _ := e.callback("/hooks/twilio/status", undelivered, twilioToken, "http://attacker.example/hooks/twilio/status",
		"attacker.example"); status != http.StatusForbidden {
		t.Errorf("signed over the Host header: %d, want 403", status)
	}
	if n := len(systemEvents()); n != 0 {
		t.Fatalf("a refused callback recorded %d events", n)
	}

	if status, _, _ := e.callback("/hooks/twilio/status", undelivered, twilioToken, statusURL, ""); status != http.StatusNoContent {
		t.Fatalf("signed: %d", status)
	}
	delivered := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}
	e.callback("/hooks/twilio/status", delivered, twilioToken, statusURL, "")
	busy := url.Values{"CallSid": {"CA0123"}, "CallStatus": {"busy"}}
	e.callback("/hooks/twilio/status", busy, twilioToken, statusURL, "")
	es := systemEvents()
	if len(es) != 2 || es[1].Event != "delivery.status" || es[1].Result != "failed" ||
		es[1].Detail != "sms undelivered error 30003 sid SM0123456789abcdef" || es[0].Detail != "voice busy sid CA0123" {
		t.Fatalf("audit: %+v", es)
	}
	resp, err := http.Get(e.issuer + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`tessera_delivery_status_total{channel="sms",status="undelivered"} 1`,
		`tessera_delivery_status_total{channel="sms",status="delivered"} 1`, `tessera_delivery_status_total{channel="voice",status="busy"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
