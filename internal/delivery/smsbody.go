package delivery

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// SMSBody writes the text of a code message: it names the service (prefixing "service: " when
// text does not already name it), contains no link, and ends with the origin-bound line
// "@host #code" (WebOTP, and iOS/Android autofill), which lets the browser offer the code only
// on the site it was meant for — a phishing page on another host gets nothing.
//
// text is the sentence for the person, already translated ("123456 is your sign-in code. It
// expires in 10 minutes."); origin is the issuer ("https://login.example.org") or its host; code
// is the digits.
func SMSBody(service, text, origin, code string) (string, error) {
	service, text = strings.TrimSpace(service), strings.TrimSpace(text)
	if service == "" {
		return "", errors.New("sms body: the service must be named, so the person knows who is texting")
	}
	if len(code) < 4 || len(code) > 10 || strings.Trim(code, "0123456789") != "" {
		return "", errors.New("sms body: the code must be 4 to 10 digits")
	}
	host, err := originHost(origin)
	if err != nil {
		return "", err
	}
	if hasLink(service) || hasLink(text) {
		// A link in a code text is what phishing texts look like, and carriers filter them.
		return "", errors.New("sms body: a code text must not contain a link")
	}
	if !strings.Contains(text, service) {
		text = service + ": " + text
	}
	return text + "\n\n@" + host + " #" + code, nil
}

// originHost returns the host name of an origin or URL, without scheme or port, as the
// origin-bound one-time code format wants it.
func originHost(origin string) (string, error) {
	origin = strings.TrimSpace(origin)
	host := origin
	if strings.Contains(origin, "://") {
		u, err := url.Parse(origin)
		if err != nil {
			return "", errors.New("sms body: the origin is not a URL")
		}
		host = u.Hostname()
	} else if h, _, err := net.SplitHostPort(origin); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || len(host) > 253 || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" ||
		strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
		return "", errors.New("sms body: the origin must be a host name such as login.example.org")
	}
	return host, nil
}

// hasLink reports whether text holds something a phone would turn into a link: a scheme, or a
// word shaped like a domain name ("portal.example.org").
func hasLink(text string) bool {
	t := strings.ToLower(text)
	if strings.Contains(t, "://") || strings.Contains(t, "www.") || strings.Contains(t, "http:") || strings.Contains(t, "https:") {
		return true
	}
	for _, word := range strings.Fields(t) {
		word = strings.TrimRight(word, ".,;:!?)\"'»”")
		dot := strings.LastIndexByte(word, '.')
		if dot <= 0 {
			continue
		}
		tld := word[dot+1:]
		if len(tld) >= 2 && strings.Trim(tld, "abcdefghijklmnopqrstuvwxyz") == "" &&
			strings.Trim(word[:dot], "abcdefghijklmnopqrstuvwxyz0123456789.-") == "" {
			return true
		}
	}
	return false
}
