package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/loader"
)

// liveLog records the versions the server logs as going live, in order,
// and where each came from.
type liveLog struct {
	mu       sync.Mutex
	versions []uint64
	from     []string
}

func (l *liveLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *liveLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *liveLog) WithGroup(string) slog.Handler            { return l }
func (l *liveLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "snapshot live" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "version":
			l.versions = append(l.versions, a.Value.Uint64())
		case "from":
			l.from = append(l.from, a.Value.String())
		}
		return true
	})
	return nil
}

// TestUploadInstallsInMemory: an upload makes live the snapshot the loader
// built, not the file read back; the watcher then sees the new file on disk
// and leaves it (it is not newer). Replicas still get the signed file:
// encoded when first asked, the same bytes as on disk.
func TestUploadInstallsInMemory(t *testing.T) {
	logs := &liveLog{}
	e := newEnv(t, Config{Poll: 5 * time.Millisecond, Logger: slog.New(logs)}, true)
	if r := e.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(e.sh))); r.code != 200 {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	time.Sleep(100 * time.Millisecond) // twenty polls
	logs.mu.Lock()
	got := fmt.Sprint(logs.versions, logs.from)
	logs.mu.Unlock()
	if want := "[1 2] [disk upload]"; got != want {
		t.Fatalf("went live: %s, want %s", got, want)
	}
	r := e.do(t, "GET", "/v1/snapshot/file", auth.Replica, nil)
	disk, err := os.ReadFile(e.store.SnapshotPath())
	if err != nil || r.code != 200 || !bytes.Equal(r.body, disk) {
		t.Fatalf("served file (%d, %d bytes) differs from the %d on disk (%v)", r.code, len(r.body), len(disk), err)
	}
}

// TestInstallRace: uploads land while four watchers reload the snapshot on
// disk as fast as they can. The live version never goes down: not between
// two looks, not after an upload answered (its snapshot, or a newer one, is
// live), not in the order installs happen. The clock is slow (a reading
// takes a millisecond), which widens any window between deciding to
// install a snapshot and installing it: its staleness is computed there.
func TestInstallRace(t *testing.T) {
	logs := &liveLog{}
	slow := engine.NewCalendar(engine.CST, func() time.Time { time.Sleep(time.Millisecond); return testCal.Now() })
	e := newEnv(t, Config{Poll: time.Millisecond, Logger: slog.New(logs)}, true, func(st *loader.Store) { st.Calendar = slow })
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				e.srv.reloadSnapshot()
				time.Sleep(100 * time.Microsecond)
			}
		})
	}
	var seenDown atomic.Int64
	wg.Go(func() {
		var high uint64
		for !stop.Load() {
			v := e.srv.Snapshot().Info().Version
			if v < high {
				seenDown.Add(1)
			}
			high = max(high, v)
			runtime.Gosched()
		}
	})
	lists := [][]string{e.sh, fixture.IDs(6, 300)}
	var behind []string
	const uploads = 25
	for k := range uploads {
		// Corrections of the same day, alternating lists: each a new version.
		r := e.do(t, "PUT", "/v1/uploads/sh/2026-11-27?allowShrink=true", auth.Upload("sh"), []byte(fixture.CSV(lists[k%2])))
		if r.code != 200 {
			t.Fatalf("upload %d: %d %s", k, r.code, r.body)
		}
		if v, want := e.srv.Snapshot().Info().Version, uint64(2+k); v < want {
			behind = append(behind, time.Now().Format("15:04:05.000")+": live "+itoa(v)+" after upload "+itoa(want))
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := e.srv.Snapshot().Info().Version; v != 1+uploads {
		t.Errorf("live version %d at the end, want %d", v, 1+uploads)
	}
	if len(behind) > 0 {
		t.Errorf("an older snapshot replaced the upload's %d times: %q", len(behind), behind)
	}
	if n := seenDown.Load(); n > 0 {
		t.Errorf("the live version went down %d times", n)
	}
	inverted := 0
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for i := 1; i < len(logs.versions); i++ {
		if logs.versions[i] < logs.versions[i-1] {
			inverted++
		}
	}
	if inverted > 0 {
		t.Errorf("%d installs logged with a version below the one before", inverted)
	}
}

func itoa(v uint64) string { return fmt.Sprint(v) }
