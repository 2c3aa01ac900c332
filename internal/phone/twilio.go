package phone

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TwilioLookup asks the Twilio Lookup v2 API for a number's line type
// (GET /v2/PhoneNumbers/{E164}?Fields=line_type_intelligence, basic auth). Any service with the
// same shape works by changing BaseURL. Each lookup is billed, so callers look a number up once,
// when it is registered, not at every sign-in.
type TwilioLookup struct {
	// BaseURL is the API root; empty means https://lookups.twilio.com.
	BaseURL    string
	AccountSID string
	AuthToken  string
	// Client carries the request; nil means a client with a 10 second timeout.
	Client *http.Client
}

var _ LineTypeLookup = (*TwilioLookup)(nil)

// twilioLookupResponse is the part of the Lookup v2 answer we read.
type twilioLookupResponse struct {
	PhoneNumber          string `json:"phone_number"`
	Valid                *bool  `json:"valid"`
	LineTypeIntelligence *struct {
		Type      string `json:"type"`
		ErrorCode *int   `json:"error_code"`
	} `json:"line_type_intelligence"`
}

// twilioLineTypes maps Twilio's line_type_intelligence.type to ours. Twilio tells fixed VoIP
// (a desk phone on an internet line) from non-fixed VoIP; NIST refuses both.
var twilioLineTypes = map[string]LineType{
	"mobile":       Mobile,
	"landline":     FixedLine,
	"fixedVoip":    VoIP,
	"nonFixedVoip": VoIP,
	"personal":     PersonalNumber,
	"tollFree":     TollFree,
	"premium":      PremiumRate,
	"sharedCost":   SharedCost,
	"uan":          UAN,
	"voicemail":    Voicemail,
	"pager":        Pager,
	"unknown":      Unknown,
}

// LineType looks the number up. A number the API calls invalid is ErrInvalid; a type the API
// could not determine, or one we do not know, is Unknown.
func (l *TwilioLookup) LineType(ctx context.Context, e164 string) (LineType, error) {
	if !strings.HasPrefix(e164, "+") {
		return Unknown, fmt.Errorf("phone lookup: %q is not in E.164 form", e164)
	}
	base := strings.TrimRight(l.BaseURL, "/")
	if base == "" {
		base = "https://lookups.twilio.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/v2/PhoneNumbers/"+url.PathEscape(e164)+"?Fields=line_type_intelligence", nil)
	if err != nil {
		return Unknown, fmt.Errorf("phone lookup: %w", err)
	}
	req.SetBasicAuth(l.AccountSID, l.AuthToken)
	req.Header.Set("Accept", "application/json")
	client := l.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Unknown, fmt.Errorf("phone lookup: %w", err)
	}
	defer resp.Body.Close()
	// The answer is a small JSON object; the limit keeps a broken proxy from feeding us forever.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Unknown, fmt.Errorf("phone lookup: reading the answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return Unknown, ErrInvalid
	case resp.StatusCode != http.StatusOK:
		return Unknown, fmt.Errorf("phone lookup: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw[:min(len(raw), 300)])))
	}
	var body twilioLookupResponse
	if err := json.Unmarshal(raw, &body); err != nil {
		return Unknown, fmt.Errorf("phone lookup: answer is not JSON: %w", err)
	}
	if body.Valid != nil && !*body.Valid {
		return Unknown, ErrInvalid
	}
	lti := body.LineTypeIntelligence
	if lti == nil || lti.ErrorCode != nil {
		return Unknown, nil
	}
	if t, ok := twilioLineTypes[lti.Type]; ok {
		return t, nil
	}
	return Unknown, nil
}
