package qrcode

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
)

// A health code's text is 140 characters of the alphanumeric set.
var code140 = "HCX1:" + strings.Repeat("6BFOXN*TS0BI$ZD.V9:+-/ %", 6)[:135]

// decode reads a QR from an image with an independent decoder (ZXing's Go
// port), as a phone or gate scanner would.
func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the independent decoder cannot read the QR: %v", err)
	}
	return res.GetText()
}

func TestPNGDecodes(t *testing.T) {
	q, err := Encode(code140)
	if err != nil {
		t.Fatal(err)
	}
	if v := q.Version(); v > 8 {
		t.Errorf("version %d for a 140-character code at level Q, want 8 or lower", v)
	}
	img, err := png.Decode(bytes.NewReader(q.PNG(4)))
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, img); got != code140 {
		t.Errorf("decoded %q, want %q", got, code140)
	}
	if side := (q.Size() + 2*Quiet) * 4; img.Bounds().Dx() != side {
		t.Errorf("image %d px wide, want %d (quiet zone of %d modules)", img.Bounds().Dx(), side, Quiet)
	}
}

// TestSVGDecodes rasterises the SVG's path (only the M x y h n v1 h-n z
// squares it writes) and decodes the result.
func TestSVGDecodes(t *testing.T) {
	q, err := Encode(code140)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(q.SVG(), &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	side := q.Size() + 2*Quiet
	const scale = 4
	img := image.NewGray(image.Rect(0, 0, side*scale, side*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, sq := range strings.Split(doc.Path.D, "z") {
		if sq == "" {
			continue
		}
		var x, y, n, n2 int
		if _, err := fmt.Sscanf(sq, "M%d %dh%dv1h-%d", &x, &y, &n, &n2); err != nil || n != n2 {
			t.Fatalf("unexpected path segment %q", sq)
		}
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+n)*scale; px++ {
				img.Pix[py*img.Stride+px] = 0
			}
		}
	}
	if got := decode(t, img); got != code140 {
		t.Errorf("decoded %q from the SVG, want %q", got, code140)
	}
}

func TestTerminal(t *testing.T) {
	q, err := Encode(code140)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := q.Terminal(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	side := q.Size() + 2*Quiet
	if want := (side + 1) / 2; len(lines) != want {
		t.Fatalf("%d lines, want %d", len(lines), want)
	}
	// Redraw the modules from the characters and compare with the symbol.
	for row, l := range lines {
		cells := []rune(l)
		if len(cells) != side {
			t.Fatalf("line %d has %d cells, want %d", row, len(cells), side)
		}
		for x, c := range cells {
			top := c == '█' || c == '▀'
			bottom := c == '█' || c == '▄'
			if top == q.Black(x-Quiet, 2*row-Quiet) {
				t.Fatalf("cell (%d,%d) top half wrong", x, row)
			}
			if 2*row+1 < side && bottom == q.Black(x-Quiet, 2*row+1-Quiet) {
				t.Fatalf("cell (%d,%d) bottom half wrong", x, row)
			}
		}
	}
}

func TestTooLong(t *testing.T) {
	if _, err := Encode(strings.Repeat("A", 5000)); err == nil {
		t.Error("5000 characters encoded; a QR holds at most 4296 alphanumeric")
	}
}
