package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A moderator token verifies, carries its rooms and name, and may
// moderate its rooms only; it controls nothing.
func TestModeratorAndName(t *testing.T) {
	t.Parallel()
	v := NewVerifier(secret)
	tok := token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{
		"sub": "m1", "exp": exp(time.Hour), "role": "moderator", "rooms": []string{"r1"}, "name": "Mia",
	})
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify(moderator) = %v", err)
	}
	if id.Role != RoleModerator || id.Name != "Mia" {
		t.Fatalf("identity = %+v, want role moderator, name Mia", id)
	}
	if !id.CanModerate("r1") || id.CanModerate("r2") {
		t.Fatalf("CanModerate(r1, r2) = %v, %v; want true, false", id.CanModerate("r1"), id.CanModerate("r2"))
	}
	if id.CanControl("r1") {
		t.Fatal("a moderator may control (pin, sell) its room")
	}
	if got := id.ChatRole("r1"); got != RoleModerator {
		t.Fatalf("ChatRole(r1) = %q, want moderator", got)
	}
	if got := id.ChatRole("r2"); got != RoleViewer {
		t.Fatalf("ChatRole(r2) = %q, want viewer", got)
	}
	// Issue carries name and moderator through.
	tok2, err := v.Issue(Identity{User: "m2", Role: RoleModerator, Rooms: []string{"r9"}, Name: "Max"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := v.Verify(tok2)
	if err != nil || id2.Name != "Max" || !id2.CanModerate("r9") {
		t.Fatalf("issued moderator = %+v, %v", id2, err)
	}
}

func TestChatRoles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id       Identity
		room     string
		role     string
		moderate bool
	}{
		{Identity{User: "a", Role: RoleAdmin}, "x", RoleAdmin, true},
		{Identity{User: "c", Role: RoleCreator, Rooms: []string{"x"}}, "x", RoleCreator, true},
		{Identity{User: "c", Role: RoleCreator, Rooms: []string{"x"}}, "y", RoleViewer, false},
		{Identity{User: "v", Role: RoleViewer, Rooms: []string{"x"}}, "x", RoleViewer, false},
		{Identity{User: "anon-1", Role: RoleViewer, Anonymous: true}, "x", RoleViewer, false},
		{Identity{}, "x", RoleViewer, false},
	}
	for _, c := range cases {
		if got := c.id.ChatRole(c.room); got != c.role {
			t.Errorf("%+v ChatRole(%s) = %q, want %q", c.id, c.room, got, c.role)
		}
		if got := c.id.CanModerate(c.room); got != c.moderate {
			t.Errorf("%+v CanModerate(%s) = %v, want %v", c.id, c.room, got, c.moderate)
		}
	}
}

// A name claim that is not a display name (too long, control characters)
// does not refuse the token: the chat falls back to a masked label.
func TestBadNameAccepted(t *testing.T) {
	t.Parallel()
	v := NewVerifier(secret)
	tok := token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{
		"sub": "u1", "exp": exp(time.Hour), "name": "bad\u202ename that is much longer than thirty-two characters",
	})
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify(bad name) = %v, want the token accepted", err)
	}
}
