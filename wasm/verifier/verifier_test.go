package verifier

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

var ids = fixture.IDs(9, 100)

func testFilter(t *testing.T, built time.Time) *engine.EdgeFilter {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	today := engine.DefaultCalendar.Today()
	b, _ := engine.NewEdgeRegionBuilder("sh", today, [16]byte{1}, 1e-6)
	b.Add([]byte(ids[0]), engine.Red)
	b.Add([]byte(ids[1]), engine.Yellow)
	f, err := engine.NewEdgeFilter(engine.EdgeFilterOptions{Built: built}, []*engine.EdgeRegion{b.Build(built, 0), engine.UncoveredRegion("js", today)})
	if err != nil {
		t.Fatal(err)
	}
	file, _ := f.MarshalBinary()
	engine.SignEdge(file, priv)
	key, err := ParsePublicKey(" " + hex.EncodeToString(pub) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	f, err = engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParsePublicKey(t *testing.T) {
	for _, s := range []string{"", "zz", strings.Repeat("ab", 31), strings.Repeat("ab", 33), strings.Repeat("ag", 32), strings.Repeat("a", 63) + "\x00"} {
		if _, err := ParsePublicKey(s); !errors.Is(err, ErrPublicKey) {
			t.Errorf("%q: %v", s, err)
		}
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	for _, s := range []string{hex.EncodeToString(pub), strings.ToUpper(hex.EncodeToString(pub)), "\t" + hex.EncodeToString(pub) + " \n"} {
		if k, err := ParsePublicKey(s); err != nil || !k.Equal(pub) {
			t.Errorf("%q: %v %x", s, err, k)
		}
	}
}

// TestStream: one valid JSON object a line, in order; blank lines skipped;
// CRLF and blanks trimmed; a line longer than the buffer answered as an
// invalid ID; only masked IDs echoed.
func TestStream(t *testing.T) {
	f := testFilter(t, time.Now())
	in := ids[0] + "\r\n\n  " + ids[1] + "\t\n" + ids[2] + "\n110105194912310021\n" + strings.Repeat("1", 100000) + "\n<script>alert(1)</script>"
	var out strings.Builder
	if err := Stream(f, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []struct{ status, err string }{{"red", ""}, {"yellow", ""}, {"green", ""}, {"invalid", "check digit"}, {"invalid", "length"}, {"invalid", "length"}}
	if len(lines) != len(want) {
		t.Fatalf("%d lines: %s", len(lines), out.String())
	}
	for i, l := range lines {
		var a struct {
			ID       string   `json:"id"`
			Status   string   `json:"status"`
			Probable bool     `json:"probable"`
			Error    string   `json:"error"`
			Sources  []any    `json:"sources"`
			Stale    []string `json:"stale"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("line %d not JSON: %s", i+1, l)
		}
		if a.Status != want[i].status || a.Error != want[i].err || a.Probable != (i < 2) || len(a.ID) > engine.IDLen ||
			strings.ContainsAny(a.ID, "<>") {
			t.Errorf("line %d: %s", i+1, l)
		}
		if a.Status != "invalid" && (strings.Join(a.Stale, ",") != "js" || a.Sources == nil) {
			t.Errorf("line %d: stale/sources %s", i+1, l)
		}
	}
	if strings.Contains(out.String(), ids[0][4:14]) {
		t.Fatal("an ID's middle digits were echoed")
	}
}

func TestStreamStale(t *testing.T) {
	f := testFilter(t, time.Now().Add(-48*time.Hour))
	var out strings.Builder
	if err := Stream(f, strings.NewReader(ids[0]+"\n"+ids[2]), &out); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + engine.Mask(ids[0]) + `","status":"stale","probable":false,"sources":[],"stale":["sh","js"]}` + "\n" +
		`{"id":"` + engine.Mask(ids[2]) + `","status":"stale","probable":false,"sources":[],"stale":["sh","js"]}` + "\n"
	if out.String() != want {
		t.Fatalf("got\n%swant\n%s", out.String(), want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestStreamWriteError(t *testing.T) {
	f := testFilter(t, time.Now())
	if err := Stream(f, strings.NewReader(ids[0]+"\n"), failWriter{}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("got %v", err)
	}
}
