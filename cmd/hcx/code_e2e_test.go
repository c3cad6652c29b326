package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/rogpeppe/go-internal/testscript"
)

// qrread FILE: decode the QR code in a PNG with an independent decoder
// (ZXing's Go port) and print its text, as a gate's scanner reads it.
func cmdQRRead(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: qrread FILE.png")
	}
	text, err := readQR([]byte(ts.ReadFile(args[0])))
	if err != nil {
		ts.Fatalf("%s: %v", args[0], err)
	}
	fmt.Fprintln(ts.Stdout(), text)
}

// envfile NAME FILE: set $NAME to the file's text, without its line end
// (a health code has spaces: the variable stays one argument).
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimRight(ts.ReadFile(args[1]), "\r\n"))
}

// checkDemoCodes: the health codes hcx demo printed verify as their names
// say on the demo's server, the page address of each carries it, its QR
// image reads back as it, and the issue token issues.
func checkDemoCodes(t *testing.T, s *hcxServer, lookup, dataDir string, lines map[string]string) {
	t.Helper()
	want := []struct {
		name, line string
		pass       bool
		codeStatus string
	}{
		{"green", "green, passes", true, "green"},
		{"red", "red, no pass", false, "red"},
		{"listed", "green at issue, ah lists its holder now", false, "green"},
	}
	var codes []string
	for _, w := range want {
		code := lines[w.line]
		if !strings.HasPrefix(code, "HCX1:") {
			t.Fatalf("hcx demo printed no %s code: %q", w.name, lines)
		}
		codes = append(codes, code)
		page, err := url.Parse(lines[w.name])
		if err != nil || page.Scheme+"://"+page.Host != s.base || page.Fragment != "code="+code {
			t.Errorf("the %s code's page address %q (fragment %q)", w.name, lines[w.name], page.Fragment)
		}
		img, err := os.ReadFile(filepath.Join(filepath.Dir(dataDir), "codes", w.name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeQR(t, img); got != code {
			t.Errorf("the %s QR image reads %q, not its code", w.name, got)
		}
	}
	body := s.must(200, "POST", "/v1/codes/verify", lookup, strings.NewReader(strings.Join(codes, "\n")))
	dec := json.NewDecoder(bytes.NewReader(body))
	for _, w := range want {
		var a struct {
			Valid, Pass        bool
			CodeStatus, Status string
			Region             string
		}
		if err := dec.Decode(&a); err != nil || !a.Valid || a.Pass != w.pass || a.CodeStatus != w.codeStatus || a.Region != "sh" ||
			w.pass != (a.Status == "green") {
			t.Errorf("the demo's %s code: %+v (%v)", w.name, a, err)
		}
	}
	s.must(200, "POST", "/v1/codes", lines["issue token sh"], strings.NewReader(`{"region":"sh","id":"11010519491231002X"}`))
}

func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	text, err := readQR(b)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// readQR decodes the QR code in a PNG with ZXing's Go port.
func readQR(b []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	// A clean render, the symbol and its quiet zone alone: gozxing's
	// detector misses about 1% of clean version-8 symbols that zbarimg
	// reads (3 of 300 random codes), so it is told so; the decoding
	// (format, bits, Reed-Solomon, modes) is the same.
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		return "", fmt.Errorf("no QR code read: %w", err)
	}
	return res.GetText(), nil
}
