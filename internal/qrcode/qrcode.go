// Package qrcode draws a health code as a QR symbol: a PNG or SVG image for
// issuing (POST /v1/codes with an image Accept, hcx code issue --qr) and
// half-block characters for a terminal.
//
// # Usage
//
//	q, err := qrcode.Encode(text)
//	png := q.PNG(8) // 8 pixels a module
//	svg := q.SVG()
//	q.Terminal(os.Stdout)
//
// # Concurrency
//
// A *QR is immutable once Encode returns and is safe for concurrent use.
//
// # Performance
//
// Encoding a 140-character code takes tens of microseconds; images are built
// per call, so callers that serve one code many times keep the bytes.
package qrcode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"rsc.io/qr"
)

// Quiet is the margin, in modules, that ISO/IEC 18004 asks around a symbol
// so that readers find it.
const Quiet = 4

// QR is one encoded symbol.
type QR struct {
	code *qr.Code
}

// Encode encodes text at error-correction level Q (a quarter of the symbol
// may be damaged or dirty: a phone screen at a gate), in the smallest version
// that holds it. Health codes use only the QR alphanumeric set, which the
// encoder picks on its own: 140 characters fit version 8.
func Encode(text string) (*QR, error) {
	c, err := qr.Encode(text, qr.Q)
	if err != nil {
		return nil, fmt.Errorf("qrcode: %w", err)
	}
	return &QR{code: c}, nil
}

// Version is the symbol's version (1 to 40): the size is 17 + 4 x version
// modules a side.
func (q *QR) Version() int { return (q.code.Size - 17) / 4 }

// Size is the number of modules a side, without the quiet zone.
func (q *QR) Size() int { return q.code.Size }

// Black reports whether the module at (x, y) is dark; outside the symbol it
// is light.
func (q *QR) Black(x, y int) bool { return q.code.Black(x, y) }

// PNG draws the symbol with its quiet zone, scale pixels a module, as a
// two-colour PNG.
func (q *QR) PNG(scale int) []byte {
	if scale < 1 {
		scale = 1
	}
	side := (q.code.Size + 2*Quiet) * scale
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := range q.code.Size {
		for x := range q.code.Size {
			if !q.code.Black(x, y) {
				continue
			}
			x0, y0 := (x+Quiet)*scale, (y+Quiet)*scale
			for dy := range scale {
				row := img.Pix[(y0+dy)*img.Stride+x0:]
				for dx := range scale {
					row[dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // writing to a bytes.Buffer does not fail
	}
	return b.Bytes()
}

// SVG draws the symbol with its quiet zone as one path of unit squares in a
// viewBox of modules, so that it scales to any size without blur.
func (q *QR) SVG() []byte {
	side := q.code.Size + 2*Quiet
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, side, side)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, side, side)
	for y := range q.code.Size {
		for x := 0; x < q.code.Size; {
			if !q.code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < q.code.Size && q.code.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+Quiet, y+Quiet, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>` + "\n")
	return b.Bytes()
}

// Terminal draws the symbol with half-block characters, two modules a
// character cell, dark modules drawn as the terminal's background (the
// usual dark theme shows them dark on light blocks). It needs a terminal
// that shows U+2580..U+2588; phones read it from a screen at arm's length.
func (q *QR) Terminal(w io.Writer) error {
	side := q.code.Size + 2*Quiet
	light := func(x, y int) bool { return !q.code.Black(x-Quiet, y-Quiet) }
	var b bytes.Buffer
	for y := 0; y < side; y += 2 {
		for x := range side {
			top, bottom := light(x, y), y+1 < side && light(x, y+1)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}
