package auth

import (
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	tok, err := NewToken()
	if err != nil || len(tok) != 68 {
		t.Fatalf("token %q %v", tok, err)
	}
	other, _ := NewToken()
	if tok == other {
		t.Fatal("two tokens alike")
	}
	line, err := Line(tok, []string{Lookup, Upload("sh")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(line, tok) {
		t.Fatal("the tokens file holds the token itself")
	}
	admin, _ := NewToken()
	adminLine, _ := Line(admin, []string{Admin})
	s, err := Parse(strings.NewReader("# tokens\n\n" + line + adminLine + "  # trailing comment\n"))
	if err != nil || s.Len() != 2 {
		t.Fatalf("parse: %v, %d tokens", err, s.Len())
	}
	for _, c := range []struct {
		token, role    string
		known, allowed bool
	}{
		{tok, Lookup, true, true}, {tok, Upload("sh"), true, true}, {tok, Upload("js"), true, false},
		{tok, Replica, true, false}, {other, Lookup, false, false}, {"", Lookup, false, false},
		{admin, Upload("js"), true, true}, {admin, Replica, true, true},
	} {
		known, allowed := s.Allowed([]byte(c.token), c.role)
		if known != c.known || allowed != c.allowed {
			t.Errorf("%.10s %s: known %v allowed %v", c.token, c.role, known, allowed)
		}
	}
}

func TestBadTokensFile(t *testing.T) {
	for _, in := range []string{"abc lookup\n", strings.Repeat("a", 64) + " wizard\n", strings.Repeat("g", 64) + " lookup\n",
		strings.Repeat("a", 64) + "\n", strings.Repeat("a", 64) + " lookup extra\n", strings.Repeat("a", 64) + " upload:SH\n"} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
	if _, err := Line("x", nil); err == nil {
		t.Error("token without a role")
	}
	if _, err := Line("x", []string{"upload:"}); err == nil {
		t.Error("upload without a region")
	}
}

// TestScopedRoles: edge and issue:{region} are roles a tokens file may
// hold, and a region-scoped role grants its region only.
func TestScopedRoles(t *testing.T) {
	edge, _ := NewToken()
	issuer, _ := NewToken()
	admin, _ := NewToken()
	var file strings.Builder
	for tok, roles := range map[string][]string{edge: {Edge}, issuer: {Issue("sh"), Upload("js")}, admin: {Admin}} {
		line, err := Line(tok, roles)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString(line)
	}
	s, err := Parse(strings.NewReader(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	roles := func(tok string) Roles {
		t.Helper()
		r, known := s.Roles([]byte(tok))
		if !known {
			t.Fatalf("%.10s unknown", tok)
		}
		return r
	}
	for _, c := range []struct {
		name string
		got  bool
		want bool
	}{
		{"edge has edge", roles(edge).Has(Edge), true},
		{"edge has no lookup", roles(edge).Has(Lookup), false},
		{"edge issues nothing", roles(edge).IssuesAny(), false},
		{"issuer issues sh", roles(issuer).Issues([]byte("sh")), true},
		{"issuer issues no js", roles(issuer).Issues([]byte("js")), false},
		{"issuer issues some region", roles(issuer).IssuesAny(), true},
		{"issuer uploads js", roles(issuer).Uploads([]byte("js")), true},
		{"issuer uploads no sh", roles(issuer).Uploads([]byte("sh")), false},
		{"issuer uploads no prefix of js", roles(issuer).Uploads([]byte("j")), false},
		{"admin uploads anywhere", roles(admin).Uploads([]byte("zj")), true},
		{"admin issues", roles(admin).IssuesAny(), true},
		{"admin has edge", roles(admin).Has(Edge), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v", c.name, c.got)
		}
	}
	for _, bad := range []string{"issue:", "issue:SH", "edge:sh", "Edge"} {
		if ValidRole(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}
