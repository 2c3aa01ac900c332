// Package policy owns the rules a tenant and a role impose on signing in: whether MFA is off,
// optional or required, from when enrollment is enforced, which factors a role may use, how many
// wrong codes lock an account, how long a remembered device and a passkey-only sign-in last.
// It holds rules only; authn applies them and the store keeps the facts they are applied to.
package policy

import (
	"slices"
	"time"
)

// Factor kinds, as the factor packages register them.
const (
	TOTP       = "totp"
	SMS        = "sms"
	Voice      = "voice"
	Email      = "email"
	BackupCode = "backup_code"
	Passkey    = "passkey"
)

// MFA modes of a tenant.
const (
	MFAOff      = "off"
	MFAOptional = "optional"
	MFARequired = "required"
)

// Fixed rules from the seeds.
const (
	// MaxFailedCodes is how many wrong second-factor answers a person gets, counted across every
	// application and node; the next one locks the account until an administrator unlocks it.
	MaxFailedCodes = 7
)

// Tenant is the policy of one tenant (an "account": all its practices share it).
type Tenant struct {
	MFAMode     string
	EnforceFrom time.Time // zero: enforced as soon as MFAMode is required
	// RememberDevice is how long "Don't ask again on this device" lasts (0 disables it).
	RememberDevice time.Duration
	// RememberNetwork ties a remembered device to where it was remembered: "exact" address,
	// "prefix" (IPv4 /24, IPv6 /56) or "off" (authn.Network).
	RememberNetwork string
	// RememberedDeviceIsMFA: whether a sign-in on a remembered device counts as multi-factor.
	RememberedDeviceIsMFA bool
	// PasskeyMFAWindow: passkey-only sign-ins satisfy MFA this long after the last other MFA.
	PasskeyMFAWindow time.Duration
	// PatientsMayDisableMFA lets patients turn MFA off with their password.
	PatientsMayDisableMFA bool
	// PatientFactors narrows the second factors patients may use (a subset of PatientChoices;
	// empty: all of them). Backup codes always stay. Other roles are fixed by the seeds.
	PatientFactors []string
}

// PatientChoices are the factors a tenant may offer patients or not.
var PatientChoices = []string{SMS, Voice, Email, TOTP, Passkey}

// Defaults are the seeds' defaults.
func Defaults() Tenant {
	return Tenant{MFAMode: MFAOptional, RememberDevice: 7 * 24 * time.Hour, RememberNetwork: "exact", RememberedDeviceIsMFA: true,
		PasskeyMFAWindow: 90 * 24 * time.Hour}
}

// RemembersDevices reports whether "Don't ask for a code on this device" is offered: it lasts
// some days and a remembered device counts as a second factor (otherwise it would change nothing).
func (t Tenant) RemembersDevices() bool {
	return t.RememberDevice > 0 && t.RememberedDeviceIsMFA
}

// Enforced reports whether MFA is required of everyone at now.
func (t Tenant) Enforced(now time.Time) bool {
	return t.MFAMode == MFARequired && (t.EnforceFrom.IsZero() || !now.Before(t.EnforceFrom))
}

// Deferrable reports whether people may still put off enrolling ("Remind me later"): the tenant
// requires MFA but its enforcement date has not come.
func (t Tenant) Deferrable(now time.Time) bool {
	return t.MFAMode == MFARequired && !t.EnforceFrom.IsZero() && now.Before(t.EnforceFrom)
}

// Role is what a role allows.
type Role struct {
	Name string
	// Factors the role may use; providers need an app or a passkey (EHR access).
	Factors []string
	// MFARequired: the role always needs a second factor, whatever the tenant says.
	MFARequired bool
	// MayDisableMFA: the person may turn MFA off themselves (when the tenant allows it).
	MayDisableMFA bool
	// Kept are factors the role would allow but the tenant no longer offers: one already set up
	// still signs the person in (it still proves possession, and refusing it would leave only
	// the password to set up a replacement with), but none is set up anew.
	Kept []string
}

var everyFactor = []string{TOTP, SMS, Voice, Email, Passkey, BackupCode}

// RoleFor returns the policy of a role; with a tenant, the tenant's narrowing of what patients
// may use applies (at most the first tenant is read).
func RoleFor(role string, tenant ...Tenant) Role {
	r := roleFor(role)
	if len(tenant) > 0 && len(tenant[0].PatientFactors) > 0 && r.Name != "provider" && r.Name != "admin" && r.Name != "staff" {
		offered := func(k string) bool { return k == BackupCode || slices.Contains(tenant[0].PatientFactors, k) }
		for _, k := range r.Factors {
			if !offered(k) {
				r.Kept = append(r.Kept, k)
			}
		}
		r.Factors = slices.DeleteFunc(slices.Clone(r.Factors), func(k string) bool { return !offered(k) })
	}
	return r
}

func roleFor(role string) Role {
	switch role {
	case "provider":
		return Role{Name: role, Factors: []string{TOTP, Passkey, BackupCode}, MFARequired: true}
	case "admin":
		return Role{Name: role, Factors: []string{TOTP, Passkey, BackupCode}, MFARequired: true}
	case "staff":
		return Role{Name: role, Factors: everyFactor}
	default:
		return Role{Name: role, Factors: everyFactor, MayDisableMFA: true}
	}
}

// Allows reports whether the role may set up (and use) a factor kind.
func (r Role) Allows(kind string) bool { return slices.Contains(r.Factors, kind) }

// Uses reports whether a factor of this kind, once set up, signs the person in: the kinds the
// role allows and those the tenant stopped offering (Kept).
func (r Role) Uses(kind string) bool { return r.Allows(kind) || slices.Contains(r.Kept, kind) }
