package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// An identity keeps its token's exp, so a connection can end when the token
// does; an anonymous viewer has none.
func TestIdentityCarriesExpiry(t *testing.T) {
	t.Parallel()
	v := NewVerifier(secret)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "u1", "exp": at.Unix()})
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Expires.Equal(at) {
		t.Fatalf("Expires = %v, want %v", id.Expires, at)
	}
	if got := id.ValidUntil(); !got.Equal(at.Add(leeway)) {
		t.Fatalf("ValidUntil = %v, want exp plus the %s leeway %v", got, leeway, at.Add(leeway))
	}
	if anon := v.Anonymous(); !anon.Expires.IsZero() || !anon.ValidUntil().IsZero() {
		t.Fatalf("anonymous identity expires: %+v", anon)
	}
}
