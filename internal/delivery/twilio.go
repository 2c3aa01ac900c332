package delivery

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Twilio sends texts and places calls through the Twilio REST API (or any service of the same
// shape, by BaseURL): POST /2010-04-01/Accounts/{sid}/Messages.json for SMS and /Calls.json
// with inline TwiML for voice, basic auth with the account SID and auth token. One Twilio value
// serves both channels: route "sms" and "voice" to it.
type Twilio struct {
	// BaseURL is the API root; empty means https://api.twilio.com.
	BaseURL    string
	AccountSID string
	AuthToken  string
	// From is the sending number in E.164 (it must be a Twilio number able to text and call).
	From string
	// StatusCallback, if set, is the URL Twilio posts delivery and call status to; verify those
	// posts with VerifyCallback.
	StatusCallback string
	// SayVoice is the TwiML <Say voice> ("Polly.Joanna", "Google.es-US-Standard-A"); empty is
	// Twilio's default voice for the language.
	SayVoice string
	// Client carries the requests; nil means a client with a 10 second timeout.
	Client *http.Client
}

var _ Sender = (*Twilio)(nil)

// Send texts (channel sms) or calls (channel voice) m.To. It returns an *HTTPError for an
// answer other than 2xx: transient for 429 and 5xx, final for 4xx (a bad number, a number
// that cannot receive texts, bad credentials).
func (t *Twilio) Send(ctx context.Context, m Message) error {
	form := url.Values{"To": {m.To}, "From": {t.From}}
	if t.StatusCallback != "" {
		form.Set("StatusCallback", t.StatusCallback)
	}
	var resource string
	switch m.Channel {
	case SMS:
		if m.Body == "" {
			return errors.New("twilio: empty text")
		}
		resource = "Messages.json"
		form.Set("Body", m.Body)
	case Voice:
		twiml, err := t.VoiceTwiML(m)
		if err != nil {
			return err
		}
		resource = "Calls.json"
		form.Set("Twiml", twiml)
	default:
		return fmt.Errorf("twilio: cannot send channel %q", m.Channel)
	}
	base, err := checkEndpoint("twilio base URL", cmp.Or(t.BaseURL, "https://api.twilio.com"))
	if err != nil {
		return err
	}
	endpoint := strings.TrimRight(base.String(), "/") + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/" + resource
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	he := &HTTPError{Service: "twilio", Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header)}
	var apiErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &apiErr) == nil {
		he.Code, he.Detail = apiErr.Code, apiErr.Message
	} else {
		he.Detail = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	return he
}

// twimlLimit is the most TwiML the Calls API takes inline.
const twimlLimit = 4000

// VoiceTwiML is what a call says. With no ConfirmURL it reads m.Body twice, with a pause
// between, every run of four or more digits spoken one digit at a time with a pause after each
// ("1, 2, 3, 4, 5, 6"), in the person's language. With a ConfirmURL it asks once, and once more
// if nothing was pressed, for one key (m.Body says which), which Twilio posts to ConfirmURL.
// The call opens with a short pause, so the first words are not lost while the phone reaches
// the ear.
func (t *Twilio) VoiceTwiML(m Message) (string, error) {
	if strings.TrimSpace(m.Body) == "" {
		return "", errors.New("twilio: nothing to say")
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Pause length="1"/>`)
	say := t.sayElement(m.Locale, spellDigits(m.Body))
	if m.ConfirmURL != "" {
		if _, err := checkEndpoint("twilio confirm URL", m.ConfirmURL); err != nil {
			return "", err
		}
		gather := `<Gather numDigits="1" timeout="8" method="POST" action="` + xmlEscape(m.ConfirmURL) + `">` + say + `</Gather>`
		b.WriteString(gather + gather)
	} else {
		b.WriteString(say + `<Pause length="2"/>` + say)
	}
	b.WriteString(`</Response>`)
	if b.Len() > twimlLimit {
		return "", fmt.Errorf("twilio: the call script is %d bytes, over the %d the API takes", b.Len(), twimlLimit)
	}
	return b.String(), nil
}

// SayTwiML is a short reply to a <Gather> callback ("Thank you. You are signed in."): it says
// text and hangs up.
func (t *Twilio) SayTwiML(text, locale string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Response>` + t.sayElement(locale, text) + `<Hangup/></Response>`
}

// sayElement is one <Say> in the person's language and the configured voice.
func (t *Twilio) sayElement(locale, text string) string {
	var attrs string
	if lang := sayLanguage(locale); lang != "" {
		attrs += ` language="` + lang + `"`
	}
	if t.SayVoice != "" {
		attrs += ` voice="` + xmlEscape(t.SayVoice) + `"`
	}
	return `<Say` + attrs + `>` + xmlEscape(text) + `</Say>`
}

// sayLanguages are the <Say> languages Tessera asks for, by full tag; defaultSay picks one for
// a bare language. A language Twilio does not speak makes the call fail mid-way, so anything
// else falls back to Twilio's default (en-US) rather than being passed through.
var (
	sayLanguages = map[string]bool{
		"da-DK": true, "de-DE": true, "en-AU": true, "en-CA": true, "en-GB": true, "en-IN": true, "en-US": true,
		"es-ES": true, "es-MX": true, "es-US": true, "fi-FI": true, "fr-CA": true, "fr-FR": true, "it-IT": true,
		"ja-JP": true, "ko-KR": true, "nb-NO": true, "nl-NL": true, "pl-PL": true, "pt-BR": true, "pt-PT": true,
		"ru-RU": true, "sv-SE": true, "vi-VN": true, "zh-CN": true, "zh-HK": true, "zh-TW": true,
	}
	defaultSay = map[string]string{
		"da": "da-DK", "de": "de-DE", "en": "en-US", "es": "es-US", "fi": "fi-FI", "fr": "fr-FR", "it": "it-IT",
		"ja": "ja-JP", "ko": "ko-KR", "nb": "nb-NO", "no": "nb-NO", "nl": "nl-NL", "pl": "pl-PL", "pt": "pt-BR",
		"ru": "ru-RU", "sv": "sv-SE", "vi": "vi-VN", "zh": "zh-CN",
	}
)

// sayLanguage maps a locale ("es", "es_mx", "ko-KR") to a <Say language>, or "" for the default.
func sayLanguage(locale string) string {
	parts := strings.Split(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"), "-")
	lang := strings.ToLower(parts[0])
	for _, p := range parts[1:] {
		if len(p) == 2 {
			if tag := lang + "-" + strings.ToUpper(p); sayLanguages[tag] {
				return tag
			}
		}
	}
	return defaultSay[lang]
}

// spellDigits rewrites every run of four or more digits as single digits separated by ", " so
// text-to-speech reads "1, 2, 3, 4, 5, 6" slowly instead of "one hundred twenty-three thousand";
// shorter numbers ("10 minutes") are left to be read as numbers.
func spellDigits(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); {
		j := i
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		switch {
		case j-i >= 4:
			for k := i; k < j; k++ {
				if k > i {
					b.WriteString(", ")
				}
				b.WriteByte(text[k])
			}
			i = j
		case j > i:
			b.WriteString(text[i:j])
			i = j
		default:
			b.WriteByte(text[i])
			i++
		}
	}
	return b.String()
}

// xmlEscape escapes text for an XML element or a double-quoted attribute.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// ErrBadSignature means a callback did not carry a valid provider signature: it did not come
// from the provider, or it was changed on the way. Answer 403 and ignore it.
var ErrBadSignature = errors.New("delivery: callback signature missing or wrong")

// TwilioSignature is Twilio's X-Twilio-Signature for a request: base64 of HMAC-SHA1, keyed by the
// auth token, over the full URL Twilio requested followed by every POST parameter's name and
// value, sorted by name (and, for a repeated name, by value).
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyCallback checks that a status or key-press callback came from Twilio: its
// X-Twilio-Signature must match publicURL — the URL exactly as Twilio called it, query string
// included, which behind a proxy is not r.URL — and the POST parameters. It returns the
// parameters (MessageStatus or CallStatus, Digits, ErrorCode…) or ErrBadSignature. The compare is
// constant time. Twilio may or may not have included a default port (:443) in the URL it
// signed, so both forms are accepted.
func (t *Twilio) VerifyCallback(r *http.Request, publicURL string) (url.Values, error) {
	got := r.Header.Get("X-Twilio-Signature")
	if got == "" || t.AuthToken == "" || publicURL == "" {
		return nil, ErrBadSignature
	}
	// A callback is a few hundred bytes; the cap keeps a forged one from costing memory.
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	for _, u := range urlForms(publicURL) {
		want := TwilioSignature(t.AuthToken, u, r.PostForm)
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return r.PostForm, nil
		}
	}
	return nil, ErrBadSignature
}

// urlForms is the URL as given and, for https and http, the same with its default port added
// or removed.
func urlForms(raw string) []string {
	forms := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return forms
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return forms
	}
	switch u.Port() {
	case "":
		u.Host += ":" + def
	case def:
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	default:
		return forms
	}
	return append(forms, u.String())
}
