package oidcop

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTokens remembers the access tokens whose signature this process has verified, by the
// SHA-256 of the whole token, so a client calling userinfo or introspection with the same token
// again pays a hash and a map look-up instead of a parse and an ECDSA (or RSA) verification — the
// largest share of those requests. Only the signature's result is remembered: every use still
// checks expiry, the signing key still being in the key set, the client and the revocation list,
// so revocation and key removal bite at once. The cache is bounded; when full, expired entries
// go first, then everything.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	claims accessClaims
	kid    string
	alg    string
}

const verifiedTokensMax = 4096

func (v *verifiedTokens) get(raw string) (accessClaims, string, string, bool) {
	k := sha256.Sum256([]byte(raw))
	v.mu.Lock()
	e, ok := v.m[k]
	v.mu.Unlock()
	return e.claims, e.kid, e.alg, ok
}

func (v *verifiedTokens) put(raw string, c *accessClaims, kid, alg string) {
	k := sha256.Sum256([]byte(raw))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[[32]byte]verifiedToken)
	}
	if len(v.m) >= verifiedTokensMax {
		now := time.Now().Unix()
		for key, e := range v.m {
			if e.claims.Expiry <= now {
				delete(v.m, key)
			}
		}
		if len(v.m) >= verifiedTokensMax {
			clear(v.m)
		}
	}
	v.m[k] = verifiedToken{claims: *c, kid: kid, alg: alg}
}
