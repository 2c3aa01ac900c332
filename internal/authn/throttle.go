package authn

import (
	"strings"
	"time"
)

// Password guessing is slowed, never turned into a lockout (NIST SP 800-63B §5.2.2): a person who
// mistypes a few times signs in as usual, a guesser waits longer and longer, and an attacker
// cannot lock a patient out of their care by guessing on purpose.
const (
	// ThrottleWindow is how long failures are remembered.
	ThrottleWindow = 24 * time.Hour
	accountFree    = 5  // failures per account and address before any delay
	addressFree    = 30 // failures per address (across accounts) before any delay
	maxDelay       = 15 * time.Minute
)

// ThrottleKeys returns the keys failures are counted under: the account from this address, and
// the address alone.
func ThrottleKeys(tenantID, email, ip string) (account, address string) {
	return "acct:" + tenantID + ":" + strings.ToLower(strings.TrimSpace(email)) + "|ip:" + ip, "ip:" + ip
}

// AccountDelay is the wait after the n-th failure for one account from one address.
func AccountDelay(n int) time.Duration { return progressive(n, accountFree) }

// AddressDelay is the wait after the n-th failure from one address.
func AddressDelay(n int) time.Duration { return progressive(n, addressFree) }

func progressive(n, free int) time.Duration {
	if n <= free {
		return 0
	}
	shift := n - free
	if shift > 10 {
		return maxDelay
	}
	return min(time.Duration(1<<shift)*time.Second, maxDelay)
}
