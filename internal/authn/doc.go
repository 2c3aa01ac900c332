// Package authn owns the login transaction: how a person was authenticated (amr), what that is
// worth (acr), and — as later factors arrive — what the next step of a sign-in is.
package authn
