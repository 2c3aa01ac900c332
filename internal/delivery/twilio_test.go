package delivery

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTwilio is a local stand-in for the Twilio REST API: it checks basic auth, records each
// form it is given, and answers with the next canned reply (201 once the list runs out).
type fakeTwilio struct {
	*httptest.Server
	mu      sync.Mutex
	replies []fakeReply
	got     []fakeRequest
}

type fakeReply struct {
	status int
	header http.Header
	body   string
}

type fakeRequest struct {
	path string
	form url.Values
}

func newFakeTwilio(t *testing.T, replies ...fakeReply) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{replies: replies}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "AC123" || pass != "token" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s %q", r.Method, r.URL, r.Header.Get("Content-Type"))
		}
		r.ParseForm()
		f.mu.Lock()
		f.got = append(f.got, fakeRequest{r.URL.Path, r.PostForm})
		reply := fakeReply{status: http.StatusCreated, body: `{"sid": "SM0001", "status": "queued"}`}
		if len(f.replies) > 0 {
			reply, f.replies = f.replies[0], f.replies[1:]
		}
		f.mu.Unlock()
		for k, v := range reply.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(reply.status)
		io.WriteString(w, reply.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.got...)
}

func (f *fakeTwilio) sender() *Twilio {
	return &Twilio{BaseURL: f.URL, AccountSID: "AC123", AuthToken: "token", From: "+15005550006",
		StatusCallback: "https://login.example.org/twilio/status", Client: f.Client()}
}

// parsedTwiML is the TwiML of a call, read back with encoding/xml as Twilio would.
type parsedTwiML struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []struct {
		XMLName   xml.Name
		Language  string `xml:"language,attr"`
		Voice     string `xml:"voice,attr"`
		Length    string `xml:"length,attr"`
		NumDigits string `xml:"numDigits,attr"`
		Action    string `xml:"action,attr"`
		Method    string `xml:"method,attr"`
		Text      string `xml:",chardata"`
		Say       []struct {
			Language string `xml:"language,attr"`
			Text     string `xml:",chardata"`
		} `xml:"Say"`
	} `xml:",any"`
}

// shape lists the verbs in order, for a compact comparison.
func (p parsedTwiML) shape() string {
	var s []string
	for _, v := range p.Verbs {
		s = append(s, v.XMLName.Local)
	}
	return strings.Join(s, " ")
}

func TestTwilioSend(t *testing.T) {
	tests := map[string]struct {
		msg   Message
		voice string
		check func(t *testing.T, r fakeRequest)
	}{
		"SMS": {
			msg: Message{Channel: SMS, To: "+447400123456", Body: "Riverside Health: 123456 is your code.\n\n@login.example.org #123456"},
			check: func(t *testing.T, r fakeRequest) {
				if r.path != "/2010-04-01/Accounts/AC123/Messages.json" {
					t.Errorf("path %s", r.path)
				}
				want := url.Values{"To": {"+447400123456"}, "From": {"+15005550006"},
					"Body":           {"Riverside Health: 123456 is your code.\n\n@login.example.org #123456"},
					"StatusCallback": {"https://login.example.org/twilio/status"}}
				if !equalForms(r.form, want) {
					t.Errorf("form %v, want %v", r.form, want)
				}
			},
		},
		"voice call reads the code twice, digit by digit, in Spanish": {
			msg: Message{Channel: Voice, To: "+12025550123", Locale: "es", Body: "Su código de Riverside Health es 123456. Válido 10 minutos."},
			check: func(t *testing.T, r fakeRequest) {
				if r.path != "/2010-04-01/Accounts/AC123/Calls.json" || r.form.Get("To") != "+12025550123" ||
					r.form.Get("From") != "+15005550006" || r.form.Get("StatusCallback") == "" {
					t.Errorf("path %s form %v", r.path, r.form)
				}
				tw := parseTwiML(t, r.form.Get("Twiml"))
				if tw.shape() != "Pause Say Pause Say" {
					t.Fatalf("verbs %q", tw.shape())
				}
				want := "Su código de Riverside Health es 1, 2, 3, 4, 5, 6. Válido 10 minutos."
				for _, i := range []int{1, 3} {
					if v := tw.Verbs[i]; v.Text != want || v.Language != "es-US" {
						t.Errorf("Say %d: %q in %q, want %q in es-US", i, v.Text, v.Language, want)
					}
				}
				if tw.Verbs[2].Length == "" {
					t.Error("no pause length between the two readings")
				}
			},
		},
		"voice call in Korean with a chosen voice": {
			msg:   Message{Channel: Voice, To: "+821012345678", Locale: "ko_KR", Body: "인증 코드는 654321 입니다."},
			voice: "Polly.Seoyeon",
			check: func(t *testing.T, r fakeRequest) {
				tw := parseTwiML(t, r.form.Get("Twiml"))
				if v := tw.Verbs[1]; v.Language != "ko-KR" || v.Voice != "Polly.Seoyeon" || v.Text != "인증 코드는 6, 5, 4, 3, 2, 1 입니다." {
					t.Errorf("Say %+v", v)
				}
			},
		},
		"press 1 to confirm": {
			msg: Message{Channel: Voice, To: "+12025550123", Locale: "en-GB", ConfirmURL: "https://login.example.org/twilio/gather?c=abc&n=1",
				Body: "Riverside Health: someone is signing in as you. Press 1 if it is you. Otherwise hang up."},
			check: func(t *testing.T, r fakeRequest) {
				tw := parseTwiML(t, r.form.Get("Twiml"))
				if tw.shape() != "Pause Gather Gather" {
					t.Fatalf("verbs %q", tw.shape())
				}
				for _, g := range tw.Verbs[1:] {
					if g.NumDigits != "1" || g.Action != "https://login.example.org/twilio/gather?c=abc&n=1" || g.Method != "POST" ||
						len(g.Say) != 1 || g.Say[0].Language != "en-GB" || !strings.Contains(g.Say[0].Text, "Press 1") {
						t.Errorf("Gather %+v", g)
					}
				}
			},
		},
		"text that looks like markup is escaped": {
			msg: Message{Channel: Voice, To: "+12025550123", Body: `Code 1234 </Say><Dial>+19005550199</Dial> & "more"`},
			check: func(t *testing.T, r fakeRequest) {
				tw := parseTwiML(t, r.form.Get("Twiml"))
				if tw.shape() != "Pause Say Pause Say" || !strings.Contains(tw.Verbs[1].Text, "<Dial>") || tw.Verbs[1].Language != "" {
					t.Errorf("TwiML %q", r.form.Get("Twiml"))
				}
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeTwilio(t)
			s := f.sender()
			s.SayVoice = tt.voice
			if err := s.Send(context.Background(), tt.msg); err != nil {
				t.Fatal(err)
			}
			got := f.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			tt.check(t, got[0])
		})
	}
}

func TestTwilioErrors(t *testing.T) {
	tests := map[string]struct {
		reply      fakeReply
		sender     func(*Twilio)
		msg        Message
		transient  bool
		code       int
		retryAfter time.Duration
	}{
		"invalid number (400)": {
			reply: fakeReply{status: 400, body: `{"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}`},
			code:  21211,
		},
		"landline cannot receive SMS (400)": {
			reply: fakeReply{status: 400, body: `{"code": 21614, "message": "'To' number is not a valid mobile number", "status": 400}`},
			code:  21614,
		},
		"wrong credentials (401)": {sender: func(s *Twilio) { s.AuthToken = "wrong" }, code: 20003},
		"rate limited (429) with Retry-After": {
			reply:     fakeReply{status: 429, header: http.Header{"Retry-After": {"2"}}, body: `{"code": 20429, "message": "Too Many Requests"}`},
			transient: true, code: 20429, retryAfter: 2 * time.Second,
		},
		"outage (503), not JSON":     {reply: fakeReply{status: 503, body: `<html>down</html>`}, transient: true},
		"email is not Twilio's":      {msg: Message{Channel: Email, To: "p@example.org", Body: "x"}},
		"empty text":                 {msg: Message{Channel: SMS, To: "+12025550123"}},
		"plain http to a remote API": {sender: func(s *Twilio) { s.BaseURL = "http://api.twilio.com" }},
		"confirm URL over plain http": {msg: Message{Channel: Voice, To: "+12025550123", Body: "Press 1",
			ConfirmURL: "http://login.example.org/gather"}},
		"script too long for the API": {msg: Message{Channel: Voice, To: "+12025550123", Body: strings.Repeat("word ", 1000)}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeTwilio(t, tt.reply)
			if tt.reply.status == 0 {
				f.replies = nil
			}
			s := f.sender()
			if tt.sender != nil {
				tt.sender(s)
			}
			msg := tt.msg
			if msg.Channel == "" {
				msg = Message{Channel: SMS, To: "+12025550123", Body: "123456 is your code"}
			}
			err := s.Send(context.Background(), msg)
			if err == nil {
				t.Fatal("want an error")
			}
			if Transient(err) != tt.transient {
				t.Errorf("Transient(%v) = %v", err, !tt.transient)
			}
			var he *HTTPError
			if errors.As(err, &he) && (he.Code != tt.code || he.RetryAfter != tt.retryAfter) {
				t.Errorf("HTTPError %+v, want code %d, Retry-After %v", he, tt.code, tt.retryAfter)
			}
		})
	}
}

// TestTwilioRetry: two outages then success is one delivered text; a refusal is not retried and
// ends in the plain-words error.
func TestTwilioRetry(t *testing.T) {
	outage := fakeReply{status: 503, body: `{"code": 20500, "message": "Internal Server Error"}`}
	tests := map[string]struct {
		replies  []fakeReply
		calls    int
		waits    int
		wantFail bool
	}{
		"two outages, then sent": {replies: []fakeReply{outage, outage}, calls: 3, waits: 2},
		"three outages":          {replies: []fakeReply{outage, outage, outage}, calls: 3, waits: 2, wantFail: true},
		"refused at once":        {replies: []fakeReply{{status: 400, body: `{"code": 21211, "message": "invalid"}`}}, calls: 1, wantFail: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFakeTwilio(t, tt.replies...)
			var waits []time.Duration
			r := &Retry{Sender: f.sender(), Log: quietLog(),
				Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
			err := r.Send(context.Background(), Message{Channel: SMS, To: "+12025550123", Body: "123456 is your code"})
			if got := len(f.requests()); got != tt.calls || len(waits) != tt.waits {
				t.Errorf("%d calls, %d waits; want %d, %d", got, len(waits), tt.calls, tt.waits)
			}
			if (err != nil) != tt.wantFail {
				t.Fatalf("error %v", err)
			}
			if err != nil {
				id, msg := ForPerson(err)
				if id != "delivery.failed.sms" || msg != "We couldn't send the text. Try again or choose another method." {
					t.Errorf("for the person: %q %q", id, msg)
				}
				if strings.Contains(msg, "twilio") || !strings.Contains(err.Error(), "twilio: HTTP") {
					t.Errorf("detail and message mixed: log %q, person %q", err, msg)
				}
			}
		})
	}
}

// TestTwilioSignature checks the signature against the examples in Twilio's own documentation,
// so a mistake in the algorithm cannot hide behind a test that shares it.
func TestTwilioSignature(t *testing.T) {
	params := func(caller string) url.Values {
		return url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {caller}, "Digits": {"1234"}, "From": {caller}, "To": {"+18005551212"}}
	}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	tests := []struct {
		caller, want string
	}{
		{"+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="},
		{"+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
	}
	for _, tt := range tests {
		if got := TwilioSignature("12345", u, params(tt.caller)); got != tt.want {
			t.Errorf("TwilioSignature(%s) = %s, want %s", tt.caller, got, tt.want)
		}
	}
}

func TestTwilioVerifyCallback(t *testing.T) {
	tw := &Twilio{AuthToken: "12345"}
	const public = "https://login.example.org/twilio/status?c=abc"
	status := url.Values{"MessageSid": {"SM0001"}, "MessageStatus": {"delivered"}, "To": {"+12025550123"}}
	tests := map[string]struct {
		signedURL string // the URL the signature was made over
		form      url.Values
		tamper    func(*http.Request)
		sig       string // overrides the computed signature when set
		ok        bool
	}{
		"valid":                           {signedURL: public, form: status, ok: true},
		"valid, signed with :443":         {signedURL: "https://login.example.org:443/twilio/status?c=abc", form: status, ok: true},
		"key press":                       {signedURL: public, form: url.Values{"CallSid": {"CA1"}, "Digits": {"1"}}, ok: true},
		"missing header":                  {signedURL: public, form: status, sig: "-", ok: false},
		"garbage header":                  {signedURL: public, form: status, sig: "bm90IGEgc2lnbmF0dXJl", ok: false},
		"other URL":                       {signedURL: "https://evil.example/twilio/status?c=abc", form: status, ok: false},
		"query changed":                   {signedURL: "https://login.example.org/twilio/status?c=xyz", form: status, ok: false},
		"signed with another auth token":  {signedURL: public, form: status, sig: TwilioSignature("other", public, status), ok: false},
		"parameter changed after signing": {signedURL: public, form: status, tamper: func(r *http.Request) { r.Header.Set("X-Test-Tamper", "1") }, ok: false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			sig := TwilioSignature("12345", tt.signedURL, tt.form)
			form := tt.form
			if tt.tamper != nil {
				form = url.Values{}
				for k, v := range tt.form {
					form[k] = v
				}
				form.Set("MessageStatus", "failed")
			}
			r := httptest.NewRequest(http.MethodPost, "http://10.0.0.5:8080/twilio/status?c=abc", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			switch tt.sig {
			case "":
				r.Header.Set("X-Twilio-Signature", sig)
			case "-":
			default:
				r.Header.Set("X-Twilio-Signature", tt.sig)
			}
			got, err := tw.VerifyCallback(r, public)
			if tt.ok {
				if err != nil || !equalForms(got, tt.form) {
					t.Errorf("VerifyCallback = %v, %v", got, err)
				}
			} else if !errors.Is(err, ErrBadSignature) || got != nil {
				t.Errorf("VerifyCallback = %v, %v; want ErrBadSignature", got, err)
			}
		})
	}
}

func TestSayTwiML(t *testing.T) {
	got := (&Twilio{}).SayTwiML("Gracias. Ya puede cerrar.", "es-MX")
	tw := parseTwiML(t, got)
	if tw.shape() != "Say Hangup" || tw.Verbs[0].Language != "es-MX" || tw.Verbs[0].Text != "Gracias. Ya puede cerrar." {
		t.Errorf("SayTwiML = %s", got)
	}
}

func TestSayLanguage(t *testing.T) {
	tests := map[string]string{
		"": "", "en": "en-US", "en-GB": "en-GB", "es": "es-US", "es-MX": "es-MX", "es_mx": "es-MX",
		"de": "de-DE", "ko": "ko-KR", "ko-KR": "ko-KR", "zh-Hant-TW": "zh-TW", "pt-PT": "pt-PT",
		"es-419": "es-US", "xx": "", "en-ZZ": "en-US", `en"><Dial>`: "",
	}
	for in, want := range tests {
		if got := sayLanguage(in); got != want {
			t.Errorf("sayLanguage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSpellDigits(t *testing.T) {
	tests := map[string]string{
		"Your code is 123456.":                 "Your code is 1, 2, 3, 4, 5, 6.",
		"Valid for 10 minutes.":                "Valid for 10 minutes.",
		"1234":                                 "1, 2, 3, 4",
		"Code 012345, again 012345":            "Code 0, 1, 2, 3, 4, 5, again 0, 1, 2, 3, 4, 5",
		"código 987654 válido durante 15 min.": "código 9, 8, 7, 6, 5, 4 válido durante 15 min.",
		"":                                     "",
	}
	for in, want := range tests {
		if got := spellDigits(in); got != want {
			t.Errorf("spellDigits(%q) = %q, want %q", in, got, want)
		}
	}
}

func parseTwiML(t *testing.T, s string) parsedTwiML {
	t.Helper()
	var p parsedTwiML
	if err := xml.Unmarshal([]byte(s), &p); err != nil {
		t.Fatalf("TwiML does not parse: %v\n%s", err, s)
	}
	return p
}

// equalForms compares two forms as maps of lists.
func equalForms(a, b url.Values) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// quietLog keeps retry warnings out of the test output.
func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
