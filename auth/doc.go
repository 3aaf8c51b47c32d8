// Package auth owns authentication for liveserver (docs/PROTOCOL.md,
// "Authentication"): verifying and issuing HS256 JWTs, the Identity a
// connection or request acts as and what that identity may do, anonymous
// development-mode viewers, and extracting a token from an HTTP request.
//
// A Verifier built with an empty secret runs in development mode: it hands
// out anonymous viewers and signs tokens (for POST /dev/token) with a random
// per-process secret, which only that Verifier accepts.
//
// Beyond the signature, a Verifier checks exp (required), nbf, iat (not in
// the future), the lifetime (exp - iat, at most 24 h unless Rules say
// otherwise) and, when its Rules set them, aud and iss. CheckSecret refuses
// secrets shorter than 32 bytes; the server calls it at start.
//
// A Verifier is immutable after NewVerifier and safe for concurrent use.
package auth
