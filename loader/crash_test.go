package loader

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestMain doubles as the crash tests' child: with HCX_CRASH_CHILD set it
// runs one init or ingest and exits. With HCX_CRASH_STOP=k it stops at the
// k-th crash point (printing its name) to be killed there.
func TestMain(m *testing.M) {
	if mode := os.Getenv("HCX_CRASH_CHILD"); mode != "" {
		if k, err := strconv.Atoi(os.Getenv("HCX_CRASH_STOP")); err == nil {
			n := 0
			crashPoint = func(step string) {
				if n++; n == k {
					fmt.Println(step)
					select {} // until killed
				}
			}
		}
		dir := os.Getenv("HCX_CRASH_DIR")
		var err error
		switch mode {
		case "init":
			_, err = Init(dir, nil)
		case "ingest":
			var s *Store
			if s, err = Open(dir, nil); err == nil {
				var f *os.File
				if f, err = os.Open(os.Getenv("HCX_CRASH_FILE")); err == nil {
					_, _, err = s.Ingest([]Upload{{Name: f.Name(), Body: f}}, IngestOptions{AllowShrink: true})
				}
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

// crashChild runs the child in mode, killed (SIGKILL) at its stop-th crash
// point, or, with stop 0, after the delay. It returns the step it was
// killed at, "" if it ran to the end.
func crashChild(t *testing.T, mode string, stop int, delay time.Duration, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "HCX_CRASH_CHILD="+mode, "HCX_CRASH_STOP="+strconv.Itoa(stop))...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	step := ""
	if stop > 0 {
		step, _ = bufio.NewReader(out).ReadString('\n') // "" at EOF: the child finished
	} else {
		time.Sleep(delay)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err = cmd.Wait()
	if step == "" && stop > 0 && err != nil {
		t.Fatalf("child: %v %s", err, stderr.String())
	}
	return strings.TrimSpace(step)
}

// TestCrashDuringIngest kills a real process (SIGKILL) at every step of an
// ingest's commit (before and after each file's rename) and at moments
// while it parses. Every time, the data directory must open with a valid
// signed snapshot that answers exactly as the old day or exactly as the
// new day, and take the next ingest.
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
	run := func(stop int, delay time.Duration) (string, string) {
		dir := copyDir(t, base)
		return dir, crashChild(t, "ingest", stop, delay, "HCX_CRASH_FILE="+newFile, "HCX_CRASH_DIR="+dir)
	}
	// One run to the end: how long an ingest takes, and that it works.
	start := time.Now()
	run(1<<30, 0)
	took := time.Since(start)
	seen := map[string]uint64{}
	check := func(dir, point string) {
		o, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		snap, _, err := o.Current()
		if err != nil {
			t.Fatalf("killed at %s: the data directory does not open: %v", point, err)
		}
		v := snap.Info().Version
		seen[point] = v
		listed, gone := newIDs, oldIDs
		switch v {
		case 1:
			listed, gone = oldIDs, newIDs
		case 2:
		default:
			t.Fatalf("killed at %s: version %d", point, v)
		}
		for k := 0; k < len(listed); k += len(listed) / 50 {
			if snap.Lookup(listed[k]).Status == engine.Green || snap.Lookup(gone[k%len(gone)]).Status != engine.Green {
				t.Fatalf("killed at %s: version %d answers a mix of old and new", point, v)
			}
		}
		// And the next ingest works (the lock died with the process).
		if _, _, err := o.Ingest([]Upload{{Name: "js-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(oldIDs[:10]))}}, IngestOptions{}); err != nil {
			t.Fatalf("killed at %s: next ingest: %v", point, err)
		}
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*")); len(tmps) > 0 {
			t.Fatalf("killed at %s: temporary files left after the next ingest: %v", point, tmps)
		}
	}
	for i := range 3 { // while it reads and parses
		delay := took * time.Duration(i) / 4
		dir, _ := run(0, delay)
		check(dir, "after "+delay.Round(time.Millisecond).String())
	}
	for k := 1; ; k++ { // every step of the commit
		dir, step := run(k, 0)
		if step == "" {
			break
		}
		check(dir, strconv.Itoa(k)+" ("+step+")")
	}
	t.Logf("ingest takes %v; version by kill point: %v", took, seen)
	var v1, v2 bool
	for point, v := range seen {
		v1, v2 = v1 || v == 1, v2 || v == 2
		if strings.Contains(point, "not renamed: "+SnapshotFile) && v != 1 || strings.Contains(point, "ingest: committed") && v != 2 {
			t.Fatalf("killed at %s: version %d: the commit is not the snapshot's rename", point, v)
		}
	}
	if !v1 || !v2 {
		t.Fatalf("kill points never straddled the commit (%v): the test proves nothing", seen)
	}
}

// TestCrashDuringInit kills `hcx init`'s work (Init, in a real process) at
// every step: each time the directory is absent or complete, and the next
// Init (if needed) creates it and leaves nothing else behind.
func TestCrashDuringInit(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	outcomes := map[string]int{}
	for k := 1; ; k++ {
		parent := t.TempDir()
		dir := filepath.Join(parent, "data")
		step := crashChild(t, "init", k, 0, "HCX_CRASH_DIR="+dir)
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			outcomes["nothing"]++
			if _, err := Init(dir, nil); err != nil {
				t.Fatalf("killed at %q: the next init: %v", step, err)
			}
		} else {
			outcomes["everything"]++
		}
		checkDataDir(t, dir, step)
		if left, _ := filepath.Glob(filepath.Join(parent, ".*")); len(left) > 0 {
			t.Fatalf("killed at %q: %v left beside the data directory", step, left)
		}
		if step == "" {
			break
		}
	}
	t.Logf("outcomes: %v", outcomes)
	if outcomes["nothing"] < 5 || outcomes["everything"] < 2 {
		t.Fatalf("the kill points do not cover Init (%v)", outcomes)
	}
}

// checkDataDir: dir is a complete data directory, secrets private.
func checkDataDir(t *testing.T, dir, step string) {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil || s.Signing == nil || len(s.Regions) != len(engine.DefaultRegions) {
		t.Fatalf("killed at %q: the data directory does not open whole: %v", step, err)
	}
	for name, perm := range map[string]os.FileMode{KeyFile: 0o600, SigningFile: 0o600, TokensFile: 0o600, PublicFile: 0o644, RegionsFile: 0o644, ".": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != perm {
			t.Fatalf("killed at %q: %s: %v %v", step, name, fi.Mode(), err)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmps) > 0 {
		t.Fatalf("killed at %q: %v in the data directory", step, tmps)
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
