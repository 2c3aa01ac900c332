// Package server assembles one Tessera node from its parts — store, keys, protocol, pages,
// metrics — into an http.Handler, and owns the middleware every request passes through
// (request id, client address, logging, metrics, security headers, panic recovery). The
// `serve` command and the end-to-end tests build nodes the same way, through New.
package server
