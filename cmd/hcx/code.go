package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/qrcode"
	"github.com/yrd-hcx/hcx/loader"
)

const codeUsage = `usage: hcx code issue --data DIR --region R [--ttl D] [--qr FILE.png|FILE.svg] ID
       hcx code verify --data DIR [CODE...]`

// cmdCode issues and verifies health codes from the data directory
// (docs/health-codes.md), as POST /v1/codes and POST /v1/codes/verify do.
func cmdCode(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "issue":
			return cmdCodeIssue(ctx, e, args[1:])
		case "verify":
			return cmdCodeVerify(ctx, e, args[1:])
		case "--help", "-h", "-help":
			fmt.Fprintln(e.stdout, codeUsage)
			return nil
		}
	}
	return usagef("%s", codeUsage)
}

func cmdCodeIssue(_ context.Context, e *env, args []string) error {
	fs := e.flags("code issue", "--data DIR --region R [--ttl D] [--qr FILE.png|FILE.svg] ID",
		"Issue a health code for ID, signed with region R's newest active issuer key held in the data directory. "+
			"Its colour is the person's merged status across all regions now. Prints the code's text alone on stdout; "+
			"--qr also writes its QR code, PNG or SVG by the file's extension (mode 0600: it holds the ID); "+
			"on a terminal, also draws the QR on stderr")
	dir := fs.String("data", defaultData, "data directory")
	region := fs.String("region", "", "the issuing region")
	ttlText := fs.String("ttl", answer.DefaultTTL.String(), "how long the code is valid, at most 168h (7 days)")
	qrPath := fs.String("qr", "", "write the QR code to this .png or .svg file")
	tz := zoneFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *region == "" || fs.NArg() != 1 {
		return usagef("code issue needs --region R and one ID")
	}
	ttl, err := answer.ParseTTL(*ttlText)
	if err != nil {
		return usagef("--ttl: %v", err)
	}
	ext := strings.ToLower(filepath.Ext(*qrPath))
	if *qrPath != "" && ext != ".png" && ext != ".svg" {
		return usagef("--qr: want a file name ending in .png or .svg")
	}
	cal := tz.calendar()
	st, err := loader.Open(*dir, cal)
	if err != nil {
		return err
	}
	if !slices.Contains(st.Regions, *region) {
		return usagef("--region %q is not in %s", *region, strings.Join(st.Regions, ","))
	}
	snap, _, err := st.Current()
	if err != nil {
		return err
	}
	key, _, err := st.IssuerKey(snap.TrustList(), *region)
	if err != nil {
		return err
	}
	is, err := answer.Issue(snap, key, *region, fs.Arg(0), ttl, cal.Now())
	var idErr engine.IDError
	if errors.As(err, &idErr) {
		return usagef("%v", idErr) // the reason, never the ID
	}
	if err != nil {
		return err
	}
	code := string(is.Code)
	f, ok := e.stderr.(*os.File)
	onTerminal := ok && term.IsTerminal(int(f.Fd()))
	if *qrPath == "" && !onTerminal {
		_, err = fmt.Fprintln(e.stdout, code)
		return err
	}
	q, err := qrcode.Encode(code)
	if err != nil {
		return err
	}
	if *qrPath != "" {
		img := q.SVG()
		if ext == ".png" {
			img = q.PNG(8)
		}
		if err := loader.WriteFileAtomic(*qrPath, img, 0o600); err != nil {
			return err
		}
	}
	if onTerminal {
		q.Terminal(e.stderr)
	}
	_, err = fmt.Fprintln(e.stdout, code)
	return err
}

func cmdCodeVerify(_ context.Context, e *env, args []string) error {
	fs := e.flags("code verify", "--data DIR [CODE...]",
		"Verify health codes offline from the data directory's snapshot (its trust list and lists): codes as arguments, "+
			"or one a line on stdin; one JSON object a line, as POST /v1/codes/verify answers. "+
			"Exit status 1 when any code does not pass (refused, or not green, or its holder listed now)")
	off := addOfflineFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, v, now, err := off.view()
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	buf := make([]byte, 0, 1024)
	allPass := true
	err = eachInput(fs.Args(), e.stdin, "codes", func(code []byte) {
		a := answer.VerifyCode(v, code, now)
		allPass = allPass && a.Pass
		buf = append(answer.AppendCode(buf[:0], v, a), '\n')
		w.Write(buf)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err == nil && !allPass {
		return errSilent // each answer says why
	}
	return err
}
