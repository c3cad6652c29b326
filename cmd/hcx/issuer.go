package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/loader"
)

const issuerUsage = `usage: hcx issuer add --data DIR --region R [--pubkey HEX]
       hcx issuer list --data DIR [--json]
       hcx issuer revoke --data DIR KID`

// cmdIssuer manages the health-code issuer keys and the trust list
// (docs/health-codes.md). Each change publishes a new snapshot version.
func cmdIssuer(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return cmdIssuerAdd(ctx, e, args[1:])
		case "list":
			return cmdIssuerList(ctx, e, args[1:])
		case "revoke":
			return cmdIssuerRevoke(ctx, e, args[1:])
		case "--help", "-h", "-help":
			fmt.Fprintln(e.stdout, issuerUsage)
			return nil
		}
	}
	return usagef("%s", issuerUsage)
}

func cmdIssuerAdd(_ context.Context, e *env, args []string) error {
	fs := e.flags("issuer add", "--data DIR --region R [--pubkey HEX]",
		"Add a health-code issuer key for region R to the trust list and publish it (a new snapshot version). "+
			"Without --pubkey, makes an Ed25519 key pair and keeps the private key in the data directory (mode 0600); "+
			"with it, registers the public key of an issuer the region runs itself. Prints the key's kid alone on stdout")
	dir := fs.String("data", defaultData, "data directory")
	region := fs.String("region", "", "the region whose codes the key signs")
	pubHex := fs.String("pubkey", "", "an external issuer's Ed25519 public key, 64 hex digits")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *region == "" || fs.NArg() > 0 {
		return usagef("issuer add needs --region R and no arguments")
	}
	var pub ed25519.PublicKey
	if *pubHex != "" {
		b, err := hex.DecodeString(strings.TrimSpace(*pubHex))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return usagef("--pubkey: want an Ed25519 public key, 64 hex digits")
		}
		pub = b
	}
	st, err := loader.Open(*dir, nil)
	if err != nil {
		return err
	}
	if !slices.Contains(st.Regions, *region) {
		return usagef("--region %q is not in %s", *region, strings.Join(st.Regions, ","))
	}
	var iss engine.TrustedIssuer
	if pub == nil {
		iss, err = st.AddIssuer(*region)
	} else {
		iss, err = st.RegisterIssuer(*region, pub)
	}
	if err != nil {
		return err
	}
	e.log.Info("issuer added", "region", iss.Region, "kid", iss.Kid.String(), "external", pub != nil)
	fmt.Fprintln(e.stdout, iss.Kid)
	return nil
}

func cmdIssuerList(_ context.Context, e *env, args []string) error {
	fs := e.flags("issuer list", "--data DIR [--json]",
		"Print the trust list of the current snapshot: a table, or with --json the object GET /v1/trust answers")
	dir := fs.String("data", defaultData, "data directory")
	asJSON := fs.Bool("json", false, `print {"issuers":[...]} as GET /v1/trust does`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("issuer list takes no arguments")
	}
	st, err := loader.Open(*dir, nil)
	if err != nil {
		return err
	}
	trust, err := st.Issuers()
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintf(e.stdout, "%s\n", trust.AppendJSON(nil))
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "REGION\tKID\tSTATUS\tADDED\tPRIVATE KEY\tPUBLIC KEY")
	for _, iss := range trust.Issuers() {
		held := "external"
		if st.HasIssuerKey(iss.Kid) {
			held = "here"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", iss.Region, iss.Kid, iss.Status, iss.Added.UTC().Format(time.RFC3339), held, hex.EncodeToString(iss.PublicKey))
	}
	return w.Flush()
}

func cmdIssuerRevoke(_ context.Context, e *env, args []string) error {
	fs := e.flags("issuer revoke", "--data DIR KID",
		"Revoke an issuer key and publish the trust list (a new snapshot version): its codes are refused (revoked_issuer) "+
			"by the server at once, by replicas on their next poll and by offline verifiers with the next edge filter. Revocation is final")
	dir := fs.String("data", defaultData, "data directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("issuer revoke needs one KID (hcx issuer list shows them)")
	}
	kid, err := engine.ParseKid(fs.Arg(0))
	if err != nil {
		return usagef("%v", err)
	}
	st, err := loader.Open(*dir, nil)
	if err != nil {
		return err
	}
	iss, err := st.RevokeIssuer(kid)
	if err != nil {
		return err
	}
	e.log.Info("issuer revoked", "region", iss.Region, "kid", iss.Kid.String())
	return nil
}
