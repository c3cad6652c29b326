package loader

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestMain doubles as the crash test's child: with HCX_CRASH_CHILD set it
// ingests one file into a data directory and exits.
func TestMain(m *testing.M) {
	if file := os.Getenv("HCX_CRASH_CHILD"); file != "" {
		s, err := Open(os.Getenv("HCX_CRASH_DIR"), nil)
		if err == nil {
			var f *os.File
			if f, err = os.Open(file); err == nil {
				_, _, err = s.Ingest([]Upload{{Name: file, Body: f}}, IngestOptions{AllowShrink: true})
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCrashDuringIngest kills a real process (SIGKILL) at many points of an
// ingest. Every time, the data directory must open with a valid signed
// snapshot that answers exactly as the old day or exactly as the new day.
func TestCrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	base := t.TempDir() + "/base"
	s, err := Init(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldIDs, newIDs := fixture.IDs(20, 1000), fixture.IDs(21, 60000)
	if _, _, err := s.Ingest([]Upload{{Name: "sh-2026-11-25.csv", Body: strings.NewReader(fixture.CSV(oldIDs))}}, IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	newFile := filepath.Join(t.TempDir(), "sh-2026-11-26.csv")
	if err := os.WriteFile(newFile, []byte(fixture.CSV(newIDs)), 0o600); err != nil {
		t.Fatal(err)
	}
	child := func(dir string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "HCX_CRASH_CHILD="+newFile, "HCX_CRASH_DIR="+dir)
		return cmd
	}
	// One run to the end: how long an ingest takes, and that it works.
	full := copyDir(t, base)
	start := time.Now()
	if out, err := child(full).CombinedOutput(); err != nil {
		t.Fatalf("child: %v %s", err, out)
	}
	took := time.Since(start)
	seen := map[uint64]int{}
	const points = 16
	for i := range points {
		dir := copyDir(t, base)
		cmd := child(dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(took * time.Duration(i) / (points - 4)) // the last few kill an exited child
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		o, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		snap, _, err := o.Current()
		if err != nil {
			t.Fatalf("kill point %d: the data directory does not open: %v", i, err)
		}
		v := snap.Info().Version
		seen[v]++
		listed, gone := newIDs, oldIDs
		switch v {
		case 1:
			listed, gone = oldIDs, newIDs
		case 2:
		default:
			t.Fatalf("kill point %d: version %d", i, v)
		}
		for k := 0; k < len(listed); k += len(listed) / 50 {
			if snap.Lookup(listed[k]).Status == engine.Green || snap.Lookup(gone[k%len(gone)]).Status != engine.Green {
				t.Fatalf("kill point %d: version %d answers a mix of old and new", i, v)
			}
		}
		// And the next ingest works (the lock died with the process).
		if _, _, err := o.Ingest([]Upload{{Name: "js-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(oldIDs[:10]))}}, IngestOptions{}); err != nil {
			t.Fatalf("kill point %d: next ingest: %v", i, err)
		}
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(tmps) > 0 {
			t.Fatalf("kill point %d: temporary files left after the next ingest: %v", i, tmps)
		}
	}
	t.Logf("ingest takes %v; outcomes by version: %v", took, seen)
	if seen[1] == 0 || seen[2] == 0 {
		t.Fatalf("kill points never straddled the commit (outcomes %v): the test proves nothing", seen)
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		info, _ := e.Info()
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
