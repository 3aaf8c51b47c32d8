// Package auth owns authentication for liveserver (docs/PROTOCOL.md,
// "Authentication"): verifying and issuing HS256 JWTs, the Identity a
// connection or request acts as and what that identity may do, anonymous
// development-mode viewers, and extracting a token from an HTTP request.
//
// A Verifier built with an empty secret runs in development mode: it hands
// out anonymous viewers and signs tokens (for POST /dev/token) with a random
// per-process secret, which only that Verifier accepts.
//
// A Verifier is immutable after NewVerifier and safe for concurrent use.
package auth
