package main

import (
	"bytes"
	"fmt"
	"image/png"
	"strings"

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
	img, err := png.Decode(bytes.NewReader([]byte(ts.ReadFile(args[0]))))
	ts.Check(err)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	ts.Check(err)
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		ts.Fatalf("no QR code read from %s: %v", args[0], err)
	}
	fmt.Fprintln(ts.Stdout(), res.GetText())
}

// envfile NAME FILE: set $NAME to the file's text, without its line end
// (a health code has spaces: the variable stays one argument).
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimRight(ts.ReadFile(args[1]), "\r\n"))
}
