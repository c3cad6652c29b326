package answer

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// issuer is sh's key in these tests, from a fixed seed so that codes, and
// the answers quoting them, are the same bytes on every run.
var issuer = ed25519.NewKeyFromSeed([]byte("hcx answer test issuer key seed!"))

var issuedAt = time.Date(2026, 11, 27, 8, 0, 0, 0, engine.CST)

// codeSnapshot: 11010519491231002X red in ah and yellow in sh (as in
// snapshot), issuer trusted for sh, another key revoked for js.
func codeSnapshot(t testing.TB) *engine.Snapshot {
	t.Helper()
	revoked := ed25519.NewKeyFromSeed([]byte("hcx answer test revoked js key!!"))
	trust, err := engine.NewTrustList(
		engine.TrustedIssuer{Region: "sh", PublicKey: issuer.Public().(ed25519.PublicKey), Status: engine.IssuerActive, Added: issuedAt.Add(-time.Hour)},
		engine.TrustedIssuer{Region: "js", PublicKey: revoked.Public().(ed25519.PublicKey), Status: engine.IssuerRevoked, Added: issuedAt.Add(-time.Hour)},
	)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := engine.NewBuilder(engine.Options{Trust: trust})
	id, _ := engine.ParseID("11010519491231002X")
	since, _ := engine.ParseDay("2026-11-20")
	b.Add(3, engine.Key{}.Of(id), engine.Red, since)
	b.Add(0, engine.Key{}.Of(id), engine.Yellow, engine.NoDay)
	d, _ := engine.ParseDay("2026-11-26")
	for i := range 4 {
		b.SetListDate(i, d)
	}
	return b.Build()
}

func TestParseTTL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{{"", DefaultTTL}, {"24h", 24 * time.Hour}, {"1s", time.Second}, {"168h", MaxTTL}, {"90m", 90 * time.Minute}} {
		if got, err := ParseTTL(c.in); err != nil || got != c.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"168h0m1s", "200h", "0", "-1h", "999ms", "1d", "24", "forever"} {
		if _, err := ParseTTL(in); !errors.Is(err, ErrTTL) {
			t.Errorf("ParseTTL(%q): %v, want ErrTTL", in, err)
		}
	}
}

// TestIssueGolden pins the issuing answer: the code is deterministic
// (Ed25519 signatures are), its colour the merged status, the ID masked.
func TestIssueGolden(t *testing.T) {
	s := codeSnapshot(t)
	is, err := Issue(s, issuer, "sh", "11010519491231002x", DefaultTTL, issuedAt.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	got := string(AppendIssued(nil, is, engine.CST))
	const want = `{"code":"HCX1:` + goldenRed + `","id":"1101**********002X","region":"sh","status":"red","issued":"2026-11-27T08:00:00+08:00","expires":"2026-11-28T08:00:00+08:00"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("not JSON: %s", got)
	}
	if _, err := Issue(s, issuer, "sh", "110105194912310021", DefaultTTL, issuedAt); !errors.Is(err, engine.ErrIDCheckDigit) {
		t.Errorf("an invalid ID: %v, want the engine's ErrIDCheckDigit", err)
	}
}

// goldenRed is the Base45 of the red code TestIssueGolden issues.
const goldenRed = "Z90QULRLS%*3Q3HIW7::AO 3200K40+21X8GCE1F:B9:3N1M*K3O E/87-KPZ2TNG3MCBRAA QAN9O6H0OCUJVV2:PICUYDR1.CK7KDGNIM6+96VDMJ7N%1MB07MFTJ7S4IDS.G"

func TestVerifyAnswers(t *testing.T) {
	s := codeSnapshot(t)
	v := NewView(s, issuedAt, DefaultMaxAge, engine.CST)
	issue := func(id string, c engine.Status, key ed25519.PrivateKey, at time.Time) string {
		t.Helper()
		pid, err := engine.ParseID(id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := engine.IssueCode(nil, key, engine.CodeClaims{ID: pid, Colour: c, Issued: at, Expires: at.Add(DefaultTTL)})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const green, listed = "440524188001010014", "11010519491231002X"
	times := `"issued":"2026-11-27T08:00:00+08:00","expires":"2026-11-28T08:00:00+08:00","asOf":"2026-11-26","stale":[]}`
	for _, c := range []struct{ name, code, want string }{
		{"green, nobody lists", issue(green, engine.Green, issuer, issuedAt),
			`{"valid":true,"pass":true,"id":"4405**********0014","region":"sh","codeStatus":"green","status":"green","since":null,"sources":[],` + times},
		{"green code, listed since", issue(listed, engine.Green, issuer, issuedAt),
			`{"valid":true,"pass":false,"id":"1101**********002X","region":"sh","codeStatus":"green","status":"red","since":"2026-11-20","sources":[{"region":"sh","status":"yellow"},{"region":"ah","status":"red"}],` + times},
		{"red code, nobody lists now", issue(green, engine.Red, issuer, issuedAt),
			`{"valid":true,"pass":false,"id":"4405**********0014","region":"sh","codeStatus":"red","status":"green","since":null,"sources":[],` + times},
		{"yellow code", issue(green, engine.Yellow, issuer, issuedAt),
			`{"valid":true,"pass":false,"id":"4405**********0014","region":"sh","codeStatus":"yellow","status":"green","since":null,"sources":[],` + times},
		{"revoked issuer", issue(green, engine.Green, ed25519.NewKeyFromSeed([]byte("hcx answer test revoked js key!!")), issuedAt),
			`{"valid":false,"pass":false,"error":"revoked_issuer"}`},
		{"expired", issue(green, engine.Green, issuer, issuedAt.Add(-DefaultTTL)),
			`{"valid":false,"pass":false,"error":"expired"}`},
		{"not a code", "HCX1:%%%", `{"valid":false,"pass":false,"error":"format"}`},
	} {
		a := VerifyCode(v, []byte(c.code), issuedAt)
		got := string(AppendCode(nil, v, a))
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s: not JSON: %s", c.name, got)
		}
		if strings.Contains(got, green) || strings.Contains(got, listed[:17]) {
			t.Errorf("%s: the ID unmasked: %s", c.name, got)
		}
	}
}
