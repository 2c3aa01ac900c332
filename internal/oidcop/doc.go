// Package oidcop adapts the protocol library (zitadel/oidc op) to Tessera's store: clients,
// authorization requests, codes, token minting and claims, and the spec rules the library leaves
// to its user (client authentication before the grant, PKCE for public clients, no `plain`,
// duplicated parameters, RFC 6750 errors at userinfo).
//
// The login UI meets this package only through an auth request id: the library redirects the
// browser to the login page with the id, and the login page calls Complete and redirects back to
// the callback. This package never sees a password or a factor.
//
// It also speaks SMART App Launch (smart.go: per-client allowed scopes, fhirUser, the patient
// launch context, /.well-known/smart-configuration) and sends OpenID Connect Back-Channel
// Logout tokens when sessions end (backchannel.go: a durable queue in the store, any node
// delivers, retried with backoff).
package oidcop
