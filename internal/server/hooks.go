package server

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/tessera-health/tessera/internal/delivery"
	"github.com/tessera-health/tessera/internal/store"
	"github.com/tessera-health/tessera/internal/web"
)

// The provider's callbacks. They exist only when Twilio is the phone provider.
const (
	// TwilioStatusPath receives delivery and call status (the StatusCallback of every text and
	// call Tessera sends).
	TwilioStatusPath = "/hooks/twilio/status"
	// TwilioConfirmPath, followed by a one-time token, receives the key pressed on a "press 1
	// to confirm" call.
	TwilioConfirmPath = web.CallConfirmPath
)

// finalFailures are the message and call statuses that mean the person never got it.
var finalFailures = map[string]bool{"failed": true, "undelivered": true, "busy": true, "no-answer": true, "canceled": true}

// twilioStatus takes Twilio's status callback for a text or a call. It is believed only with a
// valid X-Twilio-Signature over the public URL (the issuer's, never the Host header, which the
// caller chooses); anything else is 403 and changes nothing. A final failure is audited
// (delivery.status, failed) with the channel, status, error code and the message or call SID —
// never the text, which holds a code — and counted; a delivered text or a completed call is
// counted and logged at debug level only; the statuses in between are ignored.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	params, err := s.opts.Twilio.VerifyCallback(r, strings.TrimSuffix(s.opts.Issuer, "/")+TwilioStatusPath)
	if err != nil {
		slog.WarnContext(ctx, "twilio status: callback refused", "err", err)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	channel, status, sid := delivery.SMS, params.Get("MessageStatus"), params.Get("MessageSid")
	if status == "" {
		channel, status, sid = delivery.Voice, params.Get("CallStatus"), params.Get("CallSid")
	}
	status, sid = plainToken(status, 20), plainToken(sid, 64)
	code := plainToken(params.Get("ErrorCode"), 10)
	switch {
	case finalFailures[status]:
		detail := channel + " " + status
		if code != "" {
			detail += " error " + code
		}
		if sid != "" {
			detail += " sid " + sid
		}
		s.Metrics.DeliveryStatus(channel, status)
		s.Audit.Record(ctx, &store.AuditEvent{Event: "delivery.status", Result: "failed", ActorID: "twilio", Detail: detail})
	case status == "delivered" || status == "completed":
		s.Metrics.DeliveryStatus(channel, status)
		slog.DebugContext(ctx, "twilio status", "channel", channel, "status", status, "sid", sid)
	}
	w.WriteHeader(http.StatusNoContent)
}

// plainToken keeps a provider value fit for a log line or an audit detail: letters, digits,
// '-' and '_', at most n of them ("" otherwise).
func plainToken(v string, n int) string {
	if len(v) > n {
		return ""
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return v
}
