package verifier

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// codeFixture is a signed filter whose trust list holds an active sh key
// and a revoked js key; sh lists ids[0] red and ids[1] yellow.
type codeFixture struct {
	f         *engine.EdgeFilter
	sh, js    ed25519.PrivateKey
	stranger  ed25519.PrivateKey // in no trust list
	built     time.Time
	pub       ed25519.PublicKey
	fileBytes []byte
}

func newCodeFixture(t testing.TB, built time.Time) *codeFixture {
	t.Helper()
	c := &codeFixture{built: built}
	_, c.sh, _ = ed25519.GenerateKey(nil)
	_, c.js, _ = ed25519.GenerateKey(nil)
	_, c.stranger, _ = ed25519.GenerateKey(nil)
	pubOf := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	trust, err := engine.NewTrustList(
		engine.TrustedIssuer{Region: "sh", PublicKey: pubOf(c.sh), Status: engine.IssuerActive, Added: built.Add(-time.Hour)},
		engine.TrustedIssuer{Region: "js", PublicKey: pubOf(c.js), Status: engine.IssuerRevoked, Added: built.Add(-time.Hour)},
	)
	if err != nil {
		t.Fatal(err)
	}
	today := engine.DefaultCalendar.Today()
	b, _ := engine.NewEdgeRegionBuilder("sh", today, [16]byte{1}, 1e-6)
	b.Add([]byte(ids[0]), engine.Red)
	b.Add([]byte(ids[1]), engine.Yellow)
	f, err := engine.NewEdgeFilter(engine.EdgeFilterOptions{Built: built, Trust: trust},
		[]*engine.EdgeRegion{b.Build(built, 0), engine.UncoveredRegion("js", today)})
	if err != nil {
		t.Fatal(err)
	}
	file, _ := f.MarshalBinary()
	pub, priv, _ := ed25519.GenerateKey(nil)
	engine.SignEdge(file, priv)
	if c.f, err = engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	c.pub, c.fileBytes = pub, file
	return c
}

// issue makes a code for ids[i] signed by key.
func issue(t testing.TB, key ed25519.PrivateKey, i int, colour engine.Status, issued, expires time.Time) string {
	t.Helper()
	id, err := engine.ParseID(ids[i])
	if err != nil {
		t.Fatal(err)
	}
	code, err := engine.IssueCode(nil, key, engine.CodeClaims{ID: id, Colour: colour, Issued: issued, Expires: expires})
	if err != nil {
		t.Fatal(err)
	}
	return string(code)
}

type codeAnswer struct {
	Valid      *bool           `json:"valid"`
	Pass       *bool           `json:"pass"`
	ID         string          `json:"id"`
	Region     string          `json:"region"`
	CodeStatus string          `json:"codeStatus"`
	Status     string          `json:"status"`
	Probable   bool            `json:"probable"`
	Since      json.RawMessage `json:"since"`
	Sources    []struct {
		Region, Status string
	} `json:"sources"`
	Issued  string   `json:"issued"`
	Expires string   `json:"expires"`
	AsOf    string   `json:"asOf"`
	Stale   []string `json:"stale"`
	Error   string   `json:"error"`
}

// TestCodeAnswers: every verdict a gate can get offline, as a table: pass
// only for a valid green code of a holder no filter lists; the current
// status from the filters (a green code of a person listed since is red,
// probable); each refusal by name; a stale filter passes nobody.
func TestCodeAnswers(t *testing.T) {
	now := time.Now()
	fx := newCodeFixture(t, now.Add(-time.Hour))
	day := now.Add(-time.Minute)
	green2 := issue(t, fx.sh, 2, engine.Green, day, now.Add(24*time.Hour))
	for _, c := range []struct {
		name, code  string
		valid, pass bool
		status      string // or the error for a refused code
		codeStatus  string
		probable    bool
	}{
		{"green, listed nowhere", green2, true, true, "green", "green", false},
		{"green code, listed red since", issue(t, fx.sh, 0, engine.Green, day, now.Add(time.Hour)), true, false, "red", "green", true},
		{"green code, listed yellow since", issue(t, fx.sh, 1, engine.Green, day, now.Add(time.Hour)), true, false, "yellow", "green", true},
		{"red code, listed nowhere now", issue(t, fx.sh, 4, engine.Red, day, now.Add(time.Hour)), true, false, "green", "red", false},
		{"revoked issuer", issue(t, fx.js, 2, engine.Green, day, now.Add(time.Hour)), false, false, "revoked_issuer", "", false},
		{"unknown issuer", issue(t, fx.stranger, 2, engine.Green, day, now.Add(time.Hour)), false, false, "unknown_issuer", "", false},
		{"expired", issue(t, fx.sh, 2, engine.Green, now.Add(-48*time.Hour), now.Add(-time.Second)), false, false, "expired", "", false},
		{"not yet valid", issue(t, fx.sh, 2, engine.Green, now.Add(time.Hour), now.Add(48*time.Hour)), false, false, "not_yet_valid", "", false},
		{"altered", flipChar(green2, 10), false, false, "signature", "", false},
		{"truncated", green2[:len(green2)-3], false, false, "format", "", false},
		{"prefix only", "HCX1:", false, false, "format", "", false},
		{"not Base45", "HCX1:" + strings.Repeat("~", 135), false, false, "format", "", false},
	} {
		line := AppendCodeAnswer(nil, fx.f, []byte(c.code), now)
		var a codeAnswer
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%s: not JSON: %s", c.name, line)
		}
		if a.Valid == nil || *a.Valid != c.valid || a.Pass == nil || *a.Pass != c.pass {
			t.Errorf("%s: %s", c.name, line)
			continue
		}
		if !c.valid {
			if a.Error != c.status || a.ID != "" || strings.Contains(string(line), "HCX1") {
				t.Errorf("%s: %s", c.name, line)
			}
			continue
		}
		if a.Status != c.status || a.CodeStatus != c.codeStatus || a.Probable != c.probable || a.Region != "sh" ||
			a.ID == "" || strings.Contains(a.ID, ids[0][4:14]) || string(a.Since) != "null" || a.Stale == nil || a.Sources == nil ||
			a.AsOf != engine.DefaultCalendar.Today().String() {
			t.Errorf("%s: %s", c.name, line)
		}
		if is, err := time.Parse(time.RFC3339, a.Issued); err != nil || !is.Equal(day.Truncate(time.Second)) || !strings.HasSuffix(a.Issued, "+08:00") {
			t.Errorf("%s: issued %q", c.name, a.Issued)
		}
	}

	// A filter past its deadline: the code is valid, the status stale, no pass.
	old := newCodeFixture(t, now.Add(-40*time.Hour))
	line := AppendCodeAnswer(nil, old.f, []byte(issue(t, old.sh, 2, engine.Green, day, now.Add(time.Hour))), now)
	if !strings.Contains(string(line), `"valid":true,"pass":false`) || !strings.Contains(string(line), `"status":"stale"`) {
		t.Fatalf("stale filter: %s", line)
	}
}

// flipChar changes the low digit of the Base45 group k of a code (its
// first character: lowering it keeps the group's value in range), so the
// bytes change and still decode.
func flipChar(code string, k int) string {
	b := []byte(code)
	i := len(engine.CodePrefix) + 3*k
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

// TestStreamCodes: codes and IDs mixed on stdin, answered in order, each
// as its kind.
func TestStreamCodes(t *testing.T) {
	now := time.Now()
	fx := newCodeFixture(t, now.Add(-time.Hour))
	g := issue(t, fx.sh, 2, engine.Green, now.Add(-time.Minute), now.Add(time.Hour))
	var out strings.Builder
	if err := Stream(fx.f, strings.NewReader(ids[0]+"\n "+g+"\r\n"+flipChar(g, 13)+"\n"+ids[2]+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], `{"id":`) || !strings.HasPrefix(lines[1], `{"valid":true,"pass":true`) ||
		lines[2] != `{"valid":false,"pass":false,"error":"signature"}` || !strings.Contains(lines[3], `"status":"green"`) {
		t.Fatalf("%s", out.String())
	}
}

// FuzzStream: whatever arrives on stdin, every answer is one JSON object a
// line and no input line is echoed whole (beyond its masked form).
func FuzzStream(f *testing.F) {
	now := time.Now()
	fx := newCodeFixture(f, now.Add(-time.Hour))
	g := issue(f, fx.sh, 2, engine.Green, now.Add(-time.Minute), now.Add(time.Hour))
	for _, s := range []string{ids[0] + "\n" + g + "\n", g[:70], "HCX1:\n\n  \t", flipChar(g, 3), "HCX1:" + ids[1], "\x00\xff<>\"\\\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var out strings.Builder
		if err := Stream(fx.f, strings.NewReader(in), &out); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if l == "" && out.Len() == 0 {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
		}
		// A masked echo keeps four characters at each end and stars the
		// rest, so only a line that has stars of its own can come back.
		for _, l := range strings.Split(in, "\n") {
			if l = strings.TrimSpace(l); len(l) > 8 && !strings.Contains(l, "*") && strings.Contains(out.String(), l) {
				t.Fatalf("echoed %q", l)
			}
		}
	})
}
