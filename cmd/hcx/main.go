// Command hcx is the health-code exchange: one binary whose subcommands set
// up a data directory, generate and ingest daily region files, answer
// lookups, and serve the HTTP API (docs/cli.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // --tz works on machines without a zoneinfo database

	"github.com/yrd-hcx/hcx/engine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a command line the user got wrong: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errSilent is a failure already reported on stdout (a rejected file).
var errSilent = errors.New("failed")

// exitCode maps run's error to the exit statuses of docs/cli.md: 0 ok, 1 failure,
// 2 usage error.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "hcx:", err)
		return 2
	case errors.Is(err, errSilent):
		return 1
	}
	fmt.Fprintln(stderr, "hcx:", err)
	return 1
}

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch: its streams and a logger.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

var commands []command

func init() {
	commands = []command{
		{"init", "--data DIR [--regions sh,js,zj,ah]", "create a data directory: keys, tokens file; print the public key", cmdInit},
		{"token", "add --data DIR --role ROLE[,ROLE]", "create an API token: print it once, store only its hash", cmdToken},
		{"gen", "--out DIR --date D [--records N] [--seed S]", "write realistic synthetic daily files for every region", cmdGen},
		{"validate", "[--data DIR] [--json] FILE...", "dry run: report what ingesting the files would do", cmdValidate},
		{"ingest", "--data DIR [--json] FILE...", "validate, pseudonymise and store daily files; rebuild the snapshot", cmdIngest},
		{"lookup", "--data DIR [ID...]", "answer IDs offline (arguments or stdin), one JSON object a line", cmdLookup},
		{"serve", "--data DIR [--listen ADDR]", "serve the HTTP API; hot-swap new snapshots", cmdServe},
		{"demo", "[--listen ADDR]", "serve a synthetic day on 127.0.0.1:8080 and print example calls", cmdDemo},
		{"edge", "export --data DIR --out FILE | check --pubkey HEX --filter FILE", "write the signed edge filter for offline verifiers; check IDs against one", cmdEdge},
		{"bench", benchArgs, "load a server and check its answers: throughput, latency percentiles, errors", cmdBench},
		{"snapshot", "export --data DIR --out DIR", "write the signed snapshot and a manifest for a static host replicas can follow", cmdSnapshot},
		{"issuer", "add|list|revoke --data DIR ...", "health-code issuer keys and the trust list: add (prints the kid), list, revoke", cmdIssuer},
		{"code", "issue|verify --data DIR ...", "health codes: issue one (prints the code; --qr writes its QR), verify codes offline", cmdCode},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		fmt.Fprintln(w, "hcx: health-code exchange.\n\nUsage: hcx COMMAND [flags]; hcx COMMAND --help for a command's flags.\n\nCommands:")
		for _, c := range commands {
			fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
		}
		if len(args) == 0 {
			return usagef("no command given")
		}
		return nil
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		return usagef("unknown command %q (hcx --help lists them)", args[0])
	}
	return commands[i].run(ctx, e, args[1:])
}

// flags makes a command's flag set; parse reports usage errors as such.
func (e *env) flags(name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("hcx "+name, flag.ContinueOnError)
	fs.SetOutput(&usageWriter{stdout: e.stdout, stderr: e.stderr})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hcx %s %s\n\n%s.\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// usageWriter sends a command's usage to stdout when it was asked for
// (--help) and to stderr with a usage error.
type usageWriter struct {
	stdout, stderr io.Writer
	help           bool
}

func (u *usageWriter) Write(b []byte) (int, error) {
	if u.help {
		return u.stdout.Write(b)
	}
	return u.stderr.Write(b)
}

func parse(fs *flag.FlagSet, args []string) error {
	if u, ok := fs.Output().(*usageWriter); ok {
		for _, a := range args {
			if a == "--" {
				break
			}
			u.help = u.help || a == "-h" || a == "-help" || a == "--help" || a == "--h"
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// zone is the --tz flag: the zone whose "today" counts.
type zone struct{ loc *time.Location }

func (z *zone) String() string {
	if z.loc == nil {
		return "Asia/Shanghai"
	}
	return z.loc.String()
}

func (z *zone) Set(s string) error {
	if s == "CST" || s == "Asia/Shanghai" {
		z.loc = engine.CST
		return nil
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return fmt.Errorf("unknown time zone %q", s)
	}
	z.loc = loc
	return nil
}

func (z *zone) calendar() *engine.Calendar {
	if z.loc == nil {
		z.loc = engine.CST
	}
	return engine.NewCalendar(z.loc, nil)
}

func zoneFlag(fs *flag.FlagSet) *zone {
	z := &zone{}
	fs.Var(z, "tz", "time zone of list dates and \"today\" (IANA name)")
	return z
}

// rolesList splits --role a,b.
func rolesList(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}
