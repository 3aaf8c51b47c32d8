package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	// RoleModerator moderates the chat of the rooms of its token (nothing
	// else: it cannot pin or run sales).
	RoleModerator = "moderator"
)

const (
	// MaxTokenLen is the longest token Verify will parse, in bytes.
	MaxTokenLen = 4096
	// MaxSubLen is the longest sub claim accepted, in bytes.
	MaxSubLen = 128
	// leeway is the clock skew allowed when checking exp, nbf and iat.
	leeway = 5 * time.Second
	// MinSecretLen is the shortest HS256 secret accepted, in bytes: the
	// size of the hash (RFC 7518, 3.2). A shorter one can be guessed
	// offline from any token.
	MinSecretLen = 32
	// DefaultMaxLifetime is the longest token lifetime (exp - iat) a
	// Verifier accepts when its Rules leave MaxLifetime zero.
	DefaultMaxLifetime = 24 * time.Hour
)

// CheckSecret refuses an HS256 secret shorter than MinSecretLen, saying how
// to make a good one.
func CheckSecret(secret string) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("the JWT secret is %d bytes; at least %d are required, so that it cannot be guessed from a token (make one with: openssl rand -base64 32)", len(secret), MinSecretLen)
	}
	return nil
}

// Rules are the claim checks a Verifier makes beyond the signature, exp,
// nbf, iat (not in the future), sub and role.
type Rules struct {
	// Audience, when set, must be one of the token's aud; Issue sets it.
	Audience string
	// Issuer, when set, must be the token's iss; Issue sets it.
	Issuer string
	// MaxLifetime is the longest exp - iat accepted (exp - now for a token
	// without iat), so a leaked long-lived token is refused. Zero means
	// DefaultMaxLifetime; negative means no limit.
	MaxLifetime time.Duration
}

// Identity is who a connection or request acts as.
type Identity struct {
	User  string   // the token's sub
	Role  string   // viewer, creator, moderator or admin ("" in a token means viewer)
	Rooms []string // rooms a creator controls or a moderator moderates
	// Name is the token's name claim as it came, for display in the chat;
	// the chat shows a masked label instead when it is not a valid name
	// (a bad name never refuses a token).
	Name      string
	Anonymous bool // a development-mode anonymous viewer
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

// CanModerate reports whether id may moderate the chat of room: an admin
// in any room, a creator or a moderator in the rooms of its token.
func (id Identity) CanModerate(room string) bool {
	if id.User == "" || id.Anonymous || room == "" {
		return false
	}
	switch id.Role {
	case RoleAdmin:
		return true
	case RoleCreator, RoleModerator:
		return slices.Contains(id.Rooms, room)
	}
	return false
}

// ChatRole is the role id has in room as the chat shows it: admin;
// creator or moderator of a room of its token; else viewer (a creator of
// another room is a viewer here).
func (id Identity) ChatRole(room string) string {
	switch {
	case id.Anonymous:
		return RoleViewer
	case id.Role == RoleAdmin:
		return RoleAdmin
	case (id.Role == RoleCreator || id.Role == RoleModerator) && slices.Contains(id.Rooms, room):
		return id.Role
	}
	return RoleViewer
}

// CanBuy reports whether id may buy: any authenticated identity can,
// including an anonymous development-mode viewer; the zero Identity cannot.
func (id Identity) CanBuy() bool { return id.User != "" }

// claims is the token payload.
type claims struct {
	jwt.RegisteredClaims
	Role  string   `json:"role,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
	Name  string   `json:"name,omitempty"`
}

// Verifier verifies and issues tokens. It is safe for concurrent use.
type Verifier struct {
	secret []byte // the configured secret, or a random one in dev mode
	dev    bool
	rules  Rules
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for secret with the default Rules. An
// empty secret means development mode: tokens are signed and verified with
// a random secret generated here, so they are valid only on this Verifier.
// It does not check the secret's length; see CheckSecret.
func NewVerifier(secret string) *Verifier { return NewVerifierRules(secret, Rules{}) }

// NewVerifierRules is NewVerifier with claim rules.
func NewVerifierRules(secret string, r Rules) *Verifier {
	if r.MaxLifetime == 0 {
		r.MaxLifetime = DefaultMaxLifetime
	}
	v := &Verifier{
		secret: []byte(secret),
		rules:  r,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
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
func NewDevVerifier(signing []byte, r Rules) *Verifier {
	v := NewVerifierRules("", r)
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
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return Identity{}, unauthorized("token issued in the future")
	case err != nil:
		return Identity{}, unauthorized("invalid token")
	}
	if err := v.checkRules(&c); err != nil {
		return Identity{}, err
	}
	id := Identity{User: c.Subject, Role: c.Role, Rooms: c.Rooms, Name: c.Name, Expires: c.ExpiresAt.Time}
	if id.Role == "" {
		id.Role = RoleViewer
	}
	if err := check(id); err != nil {
		return Identity{}, unauthorized(err.Error())
	}
	return id, nil
}

// checkRules applies v's Rules to claims that passed the parser's checks
// (so exp is set).
func (v *Verifier) checkRules(c *claims) error {
	if v.rules.Audience != "" && !slices.Contains(c.Audience, v.rules.Audience) {
		return unauthorized("token is for another audience")
	}
	if v.rules.Issuer != "" && c.Issuer != v.rules.Issuer {
		return unauthorized("token is from another issuer")
	}
	if limit := v.rules.MaxLifetime; limit > 0 {
		from := time.Now()
		if c.IssuedAt != nil {
			from = c.IssuedAt.Time
		}
		if c.ExpiresAt.Sub(from) > limit {
			return unauthorized(fmt.Sprintf("token lives longer than this server accepts (%s)", limit))
		}
	}
	return nil
}

// Anonymous returns a fresh anonymous viewer with a random user id. Whether
// anonymous viewers are admitted (development mode only) is the caller's call.
func (v *Verifier) Anonymous() Identity {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read crashes instead)
	return Identity{User: "anon-" + hex.EncodeToString(b[:]), Role: RoleViewer, Anonymous: true}
}

// Issue signs an HS256 token for id that expires after ttl (at most the
// Rules' MaxLifetime), with v's secret (in development mode, the random
// per-process one) and the Rules' audience and issuer.
func (v *Verifier) Issue(id Identity, ttl time.Duration) (string, error) {
	if limit := v.rules.MaxLifetime; limit > 0 && ttl > limit {
		ttl = limit
	}
	return sign(v.secret, id, ttl, v.rules)
}

// Sign signs an HS256 token for id with secret, expiring after ttl. An
// identity Verify would refuse (empty or long sub, unknown role) is refused
// with a *protocol.Error with code bad_request.
func Sign(secret string, id Identity, ttl time.Duration) (string, error) {
	return sign([]byte(secret), id, ttl, Rules{})
}

func sign(secret []byte, id Identity, ttl time.Duration, r Rules) (string, error) {
	if err := check(id); err != nil {
		return "", protocol.Errorf(protocol.CodeBadRequest, "%s", err.Error())
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   id.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			Issuer:    r.Issuer,
		},
		Role:  id.Role,
		Rooms: id.Rooms,
		Name:  id.Name,
	}
	if r.Audience != "" {
		c.Audience = jwt.ClaimStrings{r.Audience}
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
	case "", RoleViewer, RoleCreator, RoleModerator, RoleAdmin:
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
