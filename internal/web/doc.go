// Package web owns what a browser sees: the sign-in pages, the signed-out and error pages, and
// the rules every page follows — CSRF protection, cookie flags, security headers, plain-words
// errors. Handlers ask authn what the rules are and the store what is true; they never write SQL
// and never decide policy themselves.
package web
