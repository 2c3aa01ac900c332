package authn

import (
	"slices"
	"time"

	"github.com/tessera-health/tessera/internal/policy"
)

// StepKind is what the login pages must do next.
type StepKind string

// The steps of a sign-in, as DESIGN.md names them.
const (
	StepPassword    StepKind = "password"
	StepVerifyPhone StepKind = "verify_phone"
	StepEnroll      StepKind = "enroll"
	StepChallenge   StepKind = "challenge"
	StepLocked      StepKind = "locked"
	StepUnmet       StepKind = "unmet" // the RP demanded an acr this person cannot reach
	StepDone        StepKind = "done"
)

// Factor is one enrolled, active second factor of the person.
type Factor struct {
	Kind      string
	IsDefault bool
}

// State is everything Next decides from. The login pages fill it from the store and the request
// after every action; Next itself reads nothing and writes nothing.
type State struct {
	Now    time.Time
	Tenant policy.Tenant
	Role   policy.Role

	Locked          bool     // too many wrong codes; only an administrator unlocks
	Enrolled        []Factor // active second factors
	PhoneUnverified bool     // a number was saved (or changed) but never verified (seed 001 §2.2, §3)
	Deferred        bool     // the person chose "Remind me later" in this sign-in
	MFADisabled     bool     // a patient turned MFA off (only where policy allows)

	// What this sign-in has proved so far (RFC 8176 values) and when the last non-passkey MFA
	// happened (for the passkey window).
	AMR          []string
	LastOtherMFA time.Time

	RememberedDevice bool // a valid remembered-device cookie matched user, method and network

	// What the relying party asked for: the highest acr requested (acr_values, claims, or the
	// client's minimum) and whether it was marked essential.
	RequiredACR  string
	ACREssential bool
}

// Step is Next's answer.
type Step struct {
	Kind StepKind
	// Factors the person may use now (challenge) or enroll (enroll), in a stable order, with
	// the default first.
	Factors  []string
	CanDefer bool   // enroll only: "Remind me later" is allowed
	ACR      string // done: what this authentication is worth
	AMR      []string
}

// Next decides the next step of a sign-in. Pages never decide policy themselves.
func Next(s State) Step {
	if s.Locked {
		return Step{Kind: StepLocked}
	}
	if !slices.Contains(s.AMR, AMRPassword) && !hasPasskey(s.AMR) {
		return Step{Kind: StepPassword}
	}
	allowed := allowedEnrolled(s)
	// A phishing-resistant demand only a passkey can meet.
	if ACRRank(s.RequiredACR) >= ACRRank(ACRPhishingRes) && !hasPasskey(s.AMR) {
		if !slices.Contains(kinds(allowed), policy.Passkey) {
			if s.ACREssential {
				return Step{Kind: StepUnmet}
			}
			// Voluntary: give the best we can, never claim more than was used.
			s.RequiredACR = ACRMultiFactor
		} else {
			return Step{Kind: StepChallenge, Factors: []string{policy.Passkey}}
		}
	}
	needMFA := mfaNeeded(s)
	if !needMFA || satisfied(s) {
		return done(s.AMR)
	}
	if s.RememberedDevice && s.Tenant.RememberedDeviceIsMFA && ACRRank(s.RequiredACR) <= ACRRank(ACRMultiFactor) {
		return done(append(append([]string{}, s.AMR...), AMRRememberedDevice))
	}
	if s.PhoneUnverified && s.Role.Allows(policy.SMS) {
		return Step{Kind: StepVerifyPhone}
	}
	if len(allowed) == 0 {
		// Nothing enrolled. Enrollment is forced by policy or by an RP that insists; a merely
		// voluntary acr request gets the truthful best instead.
		policyRequires := s.Role.MFARequired || s.Tenant.Enforced(s.Now) || s.Tenant.Deferrable(s.Now)
		if !policyRequires && !s.ACREssential {
			return done(s.AMR)
		}
		canDefer := s.Tenant.Deferrable(s.Now) && !s.Role.MFARequired && !s.ACREssential
		if canDefer && s.Deferred {
			return done(s.AMR)
		}
		return Step{Kind: StepEnroll, Factors: enrollable(s.Role), CanDefer: canDefer}
	}
	// A factor already used in this sign-in is not asked again (after a passkey outside its
	// window, "one code or authenticator check").
	var offer []string
	for _, k := range kinds(allowed) {
		if !(k == policy.Passkey && hasPasskey(s.AMR)) {
			offer = append(offer, k)
		}
	}
	if len(offer) == 0 {
		// Only a passkey enrolled, and its window has passed: another factor must be enrolled.
		var others []string
		for _, k := range enrollable(s.Role) {
			if k != policy.Passkey {
				others = append(others, k)
			}
		}
		return Step{Kind: StepEnroll, Factors: others}
	}
	return Step{Kind: StepChallenge, Factors: offer}
}

// AMRRememberedDevice is Tessera's documented amr value for "second factor skipped because this
// device was remembered after an earlier MFA" (RFC 8176 leaves room for such values); it is never
// mistaken for a code having been entered.
const AMRRememberedDevice = "rmd"

func mfaNeeded(s State) bool {
	switch {
	case ACRRank(s.RequiredACR) >= ACRRank(ACRMultiFactor):
		return true
	case s.Role.MFARequired:
		return true
	case s.Tenant.Enforced(s.Now):
		return true
	case s.Tenant.MFAMode == policy.MFAOff:
		return false
	case s.Tenant.Deferrable(s.Now):
		return true // asked to enroll (deferrable) or challenged if enrolled
	default:
		// Optional: those who enrolled a factor are asked for it, unless they turned MFA off.
		return len(s.Enrolled) > 0 && !(s.MFADisabled && s.Role.MayDisableMFA && s.Tenant.PatientsMayDisableMFA)
	}
}

// satisfied: this sign-in already holds two factors — or a passkey inside its window, which the
// seeds let stand for MFA for 90 days after the last other MFA.
func satisfied(s State) bool {
	passkeyOnly := hasPasskey(s.AMR) && countFactors(s.AMR) == 1
	if passkeyOnly {
		return slices.Contains(s.AMR, AMRUser) && !s.LastOtherMFA.IsZero() && s.Now.Sub(s.LastOtherMFA) <= s.Tenant.PasskeyMFAWindow
	}
	return ACRRank(ACRFor(s.AMR)) >= max(ACRRank(ACRMultiFactor), ACRRank(s.RequiredACR))
}

func done(amr []string) Step {
	out := append([]string{}, amr...)
	if countFactors(out) >= 2 && !slices.Contains(out, AMRMFA) {
		out = append(out, AMRMFA)
	}
	return Step{Kind: StepDone, ACR: ACRFor(out), AMR: out}
}

func countFactors(amr []string) int {
	n := 0
	for _, m := range amr {
		switch m {
		case AMRPassword, AMROTP, AMRSMS, AMRPhone, AMRHardware, AMRSoftware, AMRRememberedDevice:
			n++
		}
	}
	return n
}

func hasPasskey(amr []string) bool {
	return slices.Contains(amr, AMRHardware) || slices.Contains(amr, AMRSoftware)
}

// allowedEnrolled: the enrolled factors that sign the person in (Role.Uses), default first.
func allowedEnrolled(s State) []Factor {
	var out []Factor
	for _, f := range s.Enrolled {
		if s.Role.Uses(f.Kind) {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Factor) int {
		switch {
		case a.IsDefault && !b.IsDefault:
			return -1
		case b.IsDefault && !a.IsDefault:
			return 1
		}
		return 0
	})
	return out
}

func kinds(fs []Factor) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

// enrollable: what the role may enroll first (a backup code is never a first factor).
func enrollable(r policy.Role) []string {
	var out []string
	for _, k := range r.Factors {
		if k != policy.BackupCode {
			out = append(out, k)
		}
	}
	return out
}
