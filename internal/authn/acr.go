package authn

import "slices"

// Authentication context classes, lowest first. They are published in discovery as
// acr_values_supported in this order; phr and phrh are the OpenID EAP values.
const (
	ACRSingleFactor = "urn:tessera:acr:1fa"
	ACRMultiFactor  = "urn:tessera:acr:mfa"
	ACRPhishingRes  = "phr"
	ACRPhishingHW   = "phrh"
)

// ACRValues lists the supported classes, lowest first.
var ACRValues = []string{ACRSingleFactor, ACRMultiFactor, ACRPhishingRes, ACRPhishingHW}

// ACRRank orders an acr value; unknown values rank -1.
func ACRRank(acr string) int { return slices.Index(ACRValues, acr) }

// AMR values (RFC 8176).
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRSMS      = "sms"
	AMRPhone    = "tel"
	AMRHardware = "hwk"
	AMRSoftware = "swk"
	AMRUser     = "user"
	AMRPIN      = "pin"
	AMRMFA      = "mfa"
)

// ACRFor derives the acr that a set of amr values earns. It never claims more than was used. A
// remembered device counts as a factor only because authn adds it only where the tenant says so.
func ACRFor(amr []string) string {
	factors := 0
	phishingResistant := false
	for _, m := range amr {
		switch m {
		case AMRPassword, AMROTP, AMRSMS, AMRPhone, AMRRememberedDevice:
			factors++
		case AMRHardware, AMRSoftware:
			factors++
			phishingResistant = true
		}
	}
	switch {
	case phishingResistant && slices.Contains(amr, AMRUser) && slices.Contains(amr, AMRHardware):
		return ACRPhishingHW
	case phishingResistant && slices.Contains(amr, AMRUser):
		return ACRPhishingRes
	case factors >= 2:
		return ACRMultiFactor
	default:
		return ACRSingleFactor
	}
}
