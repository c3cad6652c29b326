package loader

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestDiskFull: an ingest whose files do not fit on the disk (a 1 MiB
// tmpfs) fails with an error that says so, leaves the previous snapshot
// live and the directory as it was (no temporary file, no edge part of the
// refused list), and the next ingest that fits lands.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a size-limited tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	s, err := Init(filepath.Join(mnt, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Calendar = testCal
	small := fixture.IDs(60, 200)
	mustIngest(t, s, "sh-2026-11-26.csv", fixture.CSV(small))
	before := dirState(t, s.Dir)

	big := fixture.IDs(61, 120000) // a snapshot of several MiB
	rep, err := ingest(t, s, "sh-2026-11-27.csv", fixture.CSV(big), IngestOptions{})
	var rej *RejectError
	switch {
	case err == nil:
		t.Fatal("a list larger than the disk was stored")
	case !errors.Is(err, syscall.ENOSPC) || errors.As(err, &rej):
		t.Fatalf("err %v: want the disk's ENOSPC, not a rejection", err)
	case !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "the current ones stay live"):
		t.Fatalf("unclear error: %v", err)
	case rep.Accepted || !strings.HasPrefix(rep.Reason, "not stored: "):
		t.Fatalf("report %+v", rep)
	}
	t.Logf("error: %v", err)
	if after := dirState(t, s.Dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the data directory changed: %d files, was %d", len(after), len(before))
	}
	o, err := Open(s.Dir, testCal) // as a restarted server would
	if err != nil {
		t.Fatal(err)
	}
	snap, _, err := o.Current()
	if err != nil || snap.Info().Version != 1 || snap.Lookup(small[0]).Status == engine.Green || snap.Lookup(big[0]).Status != engine.Green {
		t.Fatalf("the previous snapshot is not live: %v", err)
	}
	if _, _, err := s.Current(); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, "js-2026-11-27.csv", fixture.CSV(fixture.IDs(62, 300)))
	if after := dirState(t, s.Dir); len(after) != len(before)+1 { // js's edge part
		t.Fatalf("%d files after the next ingest, %d before", len(after), len(before))
	}
}
