package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/qrcode"
	"github.com/yrd-hcx/hcx/loader"
)

// demoCodes are the demo's example health codes (docs/health-codes.md),
// all issued by its first region: a green code that passes, a red one, and
// one that was green when issued, just before another region's list named
// its holder, so that it no longer passes.
type demoCodes struct {
	dir        string // the QR images: green.png, red.png, listed.png
	issuer     string // the issuing region
	lister     string // the region whose list names the holder of listed
	issueToken string // role issue:{issuer}
	codes      map[string]string
}

var demoCodeNames = []string{"green", "red", "listed"}

// newDemoCodes, before the day is ingested: an issuer for every region, a
// token that may issue for the first, and the code of a person the last
// region's file lists, green since no list is live yet.
func newDemoCodes(st *loader.Store, dir string, files []string) (*demoCodes, error) {
	c := &demoCodes{dir: dir, issuer: st.Regions[0], lister: st.Regions[len(st.Regions)-1], codes: map[string]string{}}
	for _, r := range st.Regions {
		if _, err := st.AddIssuer(r); err != nil {
			return nil, err
		}
	}
	tok, err := auth.NewToken()
	if err != nil {
		return nil, err
	}
	line, _ := auth.Line(tok, []string{auth.Issue(c.issuer)})
	if err := st.AddToken(line); err != nil {
		return nil, err
	}
	c.issueToken = tok
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), c.lister+"-") {
			red, _, err := exampleIDs(f)
			if err != nil {
				return nil, err
			}
			return c, c.issue(st, "listed", red)
		}
	}
	return nil, fmt.Errorf("no generated file for region %s", c.lister)
}

// issueAfter issues the green and red examples from the ingested day.
func (c *demoCodes) issueAfter(st *loader.Store, red, green string) error {
	if err := c.issue(st, "red", red); err != nil {
		return err
	}
	return c.issue(st, "green", green)
}

// issue issues a code for id from the current snapshot, as hcx code issue
// does, and writes its QR image.
func (c *demoCodes) issue(st *loader.Store, name, id string) error {
	snap, _, err := st.Current()
	if err != nil {
		return err
	}
	key, _, err := st.IssuerKey(snap.TrustList(), c.issuer)
	if err != nil {
		return err
	}
	is, err := answer.Issue(snap, key, c.issuer, id, answer.DefaultTTL, st.Calendar.Now())
	if err != nil {
		return err
	}
	c.codes[name] = string(is.Code)
	q, err := qrcode.Encode(c.codes[name])
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	return loader.WriteFileAtomic(filepath.Join(c.dir, name+".png"), q.PNG(8), 0o600)
}

// print writes the issue token, the codes, and the web verifier's address
// for each (the code in the fragment, with pageToken when the page needs
// one).
func (c *demoCodes) print(w io.Writer, base, pageToken string) {
	fmt.Fprintf(w, "issue token %s: %s\n", c.issuer, c.issueToken)
	fmt.Fprintf(w, "health codes from %s (an issuer for every region; QR images %s):\n", c.issuer, filepath.Join(c.dir, "{green,red,listed}.png"))
	fmt.Fprintf(w, "  green, passes: %s\n", c.codes["green"])
	fmt.Fprintf(w, "  red, no pass: %s\n", c.codes["red"])
	fmt.Fprintf(w, "  green at issue, %s lists its holder now: %s\n", c.lister, c.codes["listed"])
	fmt.Fprintf(w, "the web verifier with each code:\n")
	token := ""
	if pageToken != "" {
		token = "token=" + pageToken + "&"
	}
	for _, name := range demoCodeNames {
		// Percent-encoded whole: Base45 has spaces, '%', '+' and '/'.
		fmt.Fprintf(w, "  %s: %s/#%scode=%s\n", name, base, token, strings.ReplaceAll(url.QueryEscape(c.codes[name]), "+", "%20"))
	}
	fmt.Fprintln(w)
}

// printCalls writes the curl calls that issue and verify codes.
func (c *demoCodes) printCalls(w io.Writer, base, lookupToken, id string) {
	issue := fmt.Sprintf(`curl -s -H 'Authorization: Bearer %s' --data '{"region":"%s","id":"%s"}'`, c.issueToken, c.issuer, id)
	fmt.Fprintf(w, "  %s %s/v1/codes\n", issue, base)
	fmt.Fprintf(w, "  %s -H 'Accept: image/png' -o code.png %s/v1/codes\n", issue, base)
	var quoted []string
	for _, name := range demoCodeNames {
		quoted = append(quoted, "'"+c.codes[name]+"'") // Base45 has no single quote
	}
	fmt.Fprintf(w, "  printf '%%s\\n' %s | curl -s -H 'Authorization: Bearer %s' --data-binary @- %s/v1/codes/verify\n", strings.Join(quoted, " "), lookupToken, base)
}
