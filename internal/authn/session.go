package authn

import "time"

// Reuse says whether an existing SSO session can answer an authorization request without asking
// the person anything: not when the RP asked for a fresh login (prompt=login), not when the
// session's authentication is older than max_age, not when the RP named someone else
// (id_token_hint), and not when the RP asked for a stronger acr than the session holds.
type Reuse struct {
	Now           time.Time
	AuthTime      time.Time
	SessionACR    string
	SessionUserID string
	PromptLogin   bool
	MaxAge        *uint
	HintSubject   string
	RequiredACR   string
}

// Allowed applies the rules above.
func (r Reuse) Allowed() bool {
	if r.PromptLogin {
		return false
	}
	if r.MaxAge != nil && r.Now.Sub(r.AuthTime) > time.Duration(*r.MaxAge)*time.Second {
		return false
	}
	if r.HintSubject != "" && r.HintSubject != r.SessionUserID {
		return false
	}
	if r.RequiredACR != "" && ACRRank(r.SessionACR) < ACRRank(r.RequiredACR) {
		return false
	}
	return true
}
