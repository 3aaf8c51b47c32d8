package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/liveserver/liveserver/protocol"
)

// Roles carried in a token's role claim.
const (
	RoleViewer  = "viewer"
	RoleCreator = "creator"
	RoleAdmin   = "admin"
)

const (
	// MaxTokenLen is the longest token Verify will parse, in bytes.
	MaxTokenLen = 4096
	// MaxSubLen is the longest sub claim accepted, in bytes.
	MaxSubLen = 128
	// leeway is the clock skew allowed when checking exp and nbf.
	leeway = 5 * time.Second
)

// Identity is who a connection or request acts as.
type Identity struct {
	User      string   // the token's sub
	Role      string   // viewer, creator or admin ("" in a token means viewer)
	Rooms     []string // rooms a creator controls
	Anonymous bool     // a development-mode anonymous viewer
	// Expires is the token's exp; zero for an identity that does not
	// expire (an anonymous development-mode viewer).
	Expires time.Time
}

// ValidUntil is when id stops being valid: its token's exp plus the clock
// leeway Verify allows, so a connection lasts exactly as long as its token
// would still be accepted. The zero time means never.
func (id Identity) ValidUntil() time.Time {
	if id.Expires.IsZero() {
		return time.Time{}
	}
	return id.Expires.Add(leeway)
}

// CanControl reports whether id may perform creator actions in room: an
// admin in any room, a creator in the rooms of its token, nobody else.
func (id Identity) CanControl(room string) bool {
	if id.User == "" || id.Anonymous || room == "" {
		return false
	}
	switch id.Role {
	case RoleAdmin:
		return true
	case RoleCreator:
		return slices.Contains(id.Rooms, room)
	}
	return false
}

// CanBuy reports whether id may buy: any authenticated identity can,
// including an anonymous development-mode viewer; the zero Identity cannot.
func (id Identity) CanBuy() bool { return id.User != "" }

// claims is the token payload.
type claims struct {
	jwt.RegisteredClaims
	Role  string   `json:"role,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// Verifier verifies and issues tokens. It is safe for concurrent use.
type Verifier struct {
	secret []byte // the configured secret, or a random one in dev mode
	dev    bool
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for secret. An empty secret means
// development mode: tokens are signed and verified with a random secret
// generated here, so they are valid only on this Verifier.
func NewVerifier(secret string) *Verifier {
	v := &Verifier{
		secret: []byte(secret),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(leeway),
		),
	}
	if secret == "" {
		v.dev = true
		v.secret = make([]byte, 32)
		_, _ = rand.Read(v.secret) // never fails (crypto/rand.Read crashes instead)
	}
	return v
}

// NewDevVerifier returns a development-mode Verifier that signs with
// signing instead of a random secret, so the nodes of a cluster that share
// it accept each other's development tokens. It is still development mode:
// anonymous viewers and /dev/token.
func NewDevVerifier(signing []byte) *Verifier {
	v := NewVerifier("")
	v.secret = append([]byte(nil), signing...)
	return v
}

// DevMode reports whether v was built without a secret.
func (v *Verifier) DevMode() bool { return v.dev }

// Verify checks token and returns the identity it carries. Every error is a
// *protocol.Error with code unauthorized and a short message. In development
// mode only tokens issued by this Verifier pass.
func (v *Verifier) Verify(token string) (Identity, error) {
	switch {
	case token == "":
		return Identity{}, unauthorized("missing token")
	case len(token) > MaxTokenLen:
		return Identity{}, unauthorized("token too long")
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return v.secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, unauthorized("token expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return Identity{}, unauthorized("token has no expiry")
	case err != nil:
		return Identity{}, unauthorized("invalid token")
	}
	id := Identity{User: c.Subject, Role: c.Role, Rooms: c.Rooms, Expires: c.ExpiresAt.Time}
	if id.Role == "" {
		id.Role = RoleViewer
	}
	if err := check(id); err != nil {
		return Identity{}, unauthorized(err.Error())
	}
	return id, nil
}

// Anonymous returns a fresh anonymous viewer with a random user id. Whether
// anonymous viewers are admitted (development mode only) is the caller's call.
func (v *Verifier) Anonymous() Identity {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read crashes instead)
	return Identity{User: "anon-" + hex.EncodeToString(b[:]), Role: RoleViewer, Anonymous: true}
}

// Issue signs an HS256 token for id that expires after ttl, with v's secret
// (in development mode, the random per-process one).
func (v *Verifier) Issue(id Identity, ttl time.Duration) (string, error) {
	return sign(v.secret, id, ttl)
}

// Sign signs an HS256 token for id with secret, expiring after ttl. An
// identity Verify would refuse (empty or long sub, unknown role) is refused
// with a *protocol.Error with code bad_request.
func Sign(secret string, id Identity, ttl time.Duration) (string, error) {
	return sign([]byte(secret), id, ttl)
}

func sign(secret []byte, id Identity, ttl time.Duration) (string, error) {
	if err := check(id); err != nil {
		return "", protocol.Errorf(protocol.CodeBadRequest, "%s", err.Error())
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   id.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Role:  id.Role,
		Rooms: id.Rooms,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// check validates the claims Verify and Sign share; "" is a valid role.
func check(id Identity) error {
	switch {
	case id.User == "":
		return errors.New("missing sub")
	case len(id.User) > MaxSubLen:
		return errors.New("sub too long")
	}
	switch id.Role {
	case "", RoleViewer, RoleCreator, RoleAdmin:
		return nil
	}
	return errors.New("invalid role")
}

// TokenFromRequest extracts a token from r: the "Authorization: Bearer
// <jwt>" header first, else the "token" query parameter. It returns "" and
// true if there is none, and "" and false if the Authorization header is
// present but not a well-formed Bearer credential.
func TokenFromRequest(r *http.Request) (token string, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, found := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
			return "", false
		}
		return tok, true
	}
	if r.URL == nil {
		return "", true
	}
	return r.URL.Query().Get("token"), true
}

func unauthorized(msg string) error {
	return protocol.Errorf(protocol.CodeUnauthorized, "%s", msg)
}
