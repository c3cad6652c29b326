package loader

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/yrd-hcx/hcx/engine"
)

// Files of a data directory. The signed snapshot is the whole published
// state: it holds every region's current pseudonymised list (who, which
// colour, since when, the list date), so committing an ingest is one atomic
// rename of one file, and a crash leaves the old state or the new one.
const (
	KeyFile      = "pseudonym.key" // 16-byte SipHash key, hex; secret, 0600
	SigningFile  = "signing.key"   // Ed25519 private key seed, hex; secret, 0600
	PublicFile   = "signing.pub"   // Ed25519 public key, hex
	TokensFile   = "tokens"        // token hashes and roles, 0600
	RegionsFile  = "regions"       // region names, one a line
	SnapshotFile = "snapshot.hcx"  // the current signed snapshot
	lockFile     = ".lock"
)

// ErrNoSnapshot: nothing has been ingested into the data directory yet.
var ErrNoSnapshot = errors.New("no snapshot yet: ingest a daily file first")

// ErrReadOnly: the data directory has no signing key (a replica's).
var ErrReadOnly = errors.New("this data directory holds no signing key (a replica's): it cannot ingest")

// Store is an open data directory. Its exported fields are read-only after
// Open; it is safe for concurrent use (do not copy it once used). Ingest
// serialises the uploads of each region, and commits (also across
// processes) under a lock file. A Store with an empty Dir holds nothing: a
// dry-run Ingest on it checks files alone.
type Store struct {
	Dir      string
	Key      engine.Key
	Signing  ed25519.PrivateKey // nil in a replica's directory: it cannot ingest
	Public   ed25519.PublicKey
	Regions  []string
	Calendar *engine.Calendar

	regionMu   sync.Mutex
	regionLock []sync.Mutex // one a region, by index; made on first use
	commitMu   sync.Mutex   // in this process, before the lock file

	liveMu sync.Mutex
	live   *engine.Snapshot // the snapshot file last read or written, if any
	liveID fileID           // and which file that was
}

// Init creates a data directory: a fresh pseudonym key, an Ed25519 signing
// key pair, an empty tokens file and the region list. regions nil means
// engine.DefaultRegions.
//
// The directory is made whole or not at all: its files are written (and
// synced) in a temporary sibling directory, which is then renamed to dir in
// one step, so a crash at any instant leaves no dir or a complete one (and
// a hidden sibling, removed by the next Init). dir must not exist yet or be
// an empty directory (which the rename replaces); Init refuses any other,
// and says so if it holds a data directory's files.
func Init(dir string, regions []string) (*Store, error) {
	if regions == nil {
		regions = engine.DefaultRegions
	}
	if _, err := engine.NewBuilder(engine.Options{Regions: regions}); err != nil {
		return nil, err // validates the region list
	}
	dir = filepath.Clean(dir)
	switch entries, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case len(entries) > 0:
		for _, f := range []string{KeyFile, SigningFile, PublicFile, TokensFile, RegionsFile, SnapshotFile} {
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				return nil, fmt.Errorf("%s already holds %s: refusing to overwrite an existing data directory", dir, f)
			}
		}
		return nil, fmt.Errorf("%s is not empty: hcx init creates the data directory whole, so name one that does not exist yet", dir)
	}
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, err
	}
	// What a killed Init left: fresh keys nobody used.
	stale, _ := filepath.Glob(filepath.Join(parent, "."+base+".init-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".init-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	if err := writeDataDir(tmp, regions); err != nil {
		return nil, err
	}
	crashPoint("init: files written")
	// rename(2) itself: os.Rename refuses to replace a directory, even an
	// empty one.
	if err := syscall.Rename(tmp, dir); err != nil {
		if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV) {
			return nil, fmt.Errorf("%s is a mount point: hcx init creates the data directory whole, so name a directory inside it (%w)", dir, err)
		}
		return nil, &os.LinkError{Op: "rename", Old: tmp, New: dir, Err: err}
	}
	crashPoint("init: renamed")
	if err := syncDir(parent); err != nil {
		return nil, err
	}
	return Open(dir, nil)
}

// writeDataDir writes a new data directory's files into dir, synced.
func writeDataDir(dir string, regions []string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	var key [engine.KeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data string
		perm os.FileMode
	}{
		{KeyFile, hex.EncodeToString(key[:]) + "\n", 0o600},
		{SigningFile, hex.EncodeToString(priv.Seed()) + "\n", 0o600},
		{PublicFile, hex.EncodeToString(pub) + "\n", 0o644},
		{TokensFile, "# hcx tokens: <sha256-hex> <role>[,<role>...]; add with `hcx token add`\n", 0o600},
		{RegionsFile, "# region names, one a line, in index order (at most 64)\n" + strings.Join(regions, "\n") + "\n", 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), []byte(f.data), f.perm); err != nil {
			return err
		}
		crashPoint("init: wrote " + f.name)
	}
	return nil
}

// Open reads a data directory's keys and region list. cal decides "today"
// (nil: engine.DefaultCalendar).
func Open(dir string, cal *engine.Calendar) (*Store, error) {
	if cal == nil {
		cal = engine.DefaultCalendar
	}
	s := &Store{Dir: dir, Calendar: cal}
	key, err := readHex(filepath.Join(dir, KeyFile), engine.KeySize)
	if err != nil {
		return nil, err
	}
	s.Key = engine.KeyFromBytes([engine.KeySize]byte(key))
	// A replica holds the publisher's public key but not its private key:
	// it verifies snapshots and cannot sign (or ingest) any.
	if seed, err := readHex(filepath.Join(dir, SigningFile), ed25519.SeedSize); err == nil {
		s.Signing = ed25519.NewKeyFromSeed(seed)
		s.Public = s.Signing.Public().(ed25519.PublicKey)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else if s.Public, err = readHex(filepath.Join(dir, PublicFile), ed25519.PublicKeySize); err != nil {
		return nil, err
	}
	if s.Regions, err = ReadRegions(filepath.Join(dir, RegionsFile)); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadRegions reads a region file: names one a line, `#` comments.
func ReadRegions(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	if _, err := engine.NewBuilder(engine.Options{Regions: out}); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// readHex reads a key file written by Init (hex, one line).
func readHex(path string, size int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s missing: is %s a data directory? (hcx init --data DIR)", fs.ErrNotExist, filepath.Base(path), filepath.Dir(path))
		}
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != size {
		return nil, fmt.Errorf("%s: want %d bytes in hex", path, size)
	}
	return k, nil
}

// PublicHex is the publisher's public key in hex, as `hcx init` prints it.
func (s *Store) PublicHex() string { return hex.EncodeToString(s.Public) }

// SnapshotPath is where the current snapshot lives.
func (s *Store) SnapshotPath() string { return filepath.Join(s.Dir, SnapshotFile) }

// TokensPath is the tokens file.
func (s *Store) TokensPath() string { return filepath.Join(s.Dir, TokensFile) }

// Current reads, verifies (signature, checksums, key) and opens the current
// snapshot, returning it with its file bytes. ErrNoSnapshot if none yet.
// The file this Store last read or wrote is not decoded again.
func (s *Store) Current() (*engine.Snapshot, []byte, error) {
	snap, b, err := s.read(true)
	if err != nil {
		return nil, nil, err
	}
	if snap == nil {
		return nil, nil, ErrNoSnapshot
	}
	return snap, b, nil
}

// current is the live snapshot, nil if none yet.
func (s *Store) current() (*engine.Snapshot, error) {
	snap, _, err := s.read(false)
	return snap, err
}

// fileID names one version of a file: the snapshot is only ever replaced
// by a rename, so a new file is a new inode.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

func idOf(fi os.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id
}

// read opens the snapshot file and returns its snapshot (nil if there is
// none), decoding it only if it is not the one last seen, and its bytes if
// wantBytes.
func (s *Store) read(wantBytes bool) (*engine.Snapshot, []byte, error) {
	if s.Dir == "" { // a Store with no directory: validating files alone
		return nil, nil, nil
	}
	f, err := os.Open(s.SnapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	id := idOf(fi)
	s.liveMu.Lock()
	snap := s.live
	if s.liveID != id {
		snap = nil
	}
	s.liveMu.Unlock()
	if snap != nil && !wantBytes {
		return snap, nil, nil
	}
	// Read at its size in one buffer: io.ReadAll's chunks were zeroed,
	// then copied, and left as much garbage as the file (bench/national:
	// a fifth of an open at 19M people).
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.SnapshotPath(), err)
	}
	if snap != nil {
		return snap, b, nil
	}
	if snap, err = s.OpenSnapshot(b); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.SnapshotPath(), err)
	}
	s.remember(snap, id)
	return snap, b, nil
}

func (s *Store) remember(snap *engine.Snapshot, id fileID) {
	s.liveMu.Lock()
	s.live, s.liveID = snap, id
	s.liveMu.Unlock()
}

// writeSnapshot commits snap (whose signed file is file): crash-safe, and
// remembered so the next ingest need not decode it.
func (s *Store) writeSnapshot(snap *engine.Snapshot, file []byte) error {
	if err := WriteFileAtomic(s.SnapshotPath(), file, 0o640); err != nil {
		return err
	}
	if fi, err := os.Stat(s.SnapshotPath()); err == nil {
		s.remember(snap, idOf(fi))
	}
	return nil
}

// OpenSnapshot verifies and opens snapshot bytes with this store's keys.
func (s *Store) OpenSnapshot(b []byte) (*engine.Snapshot, error) {
	return engine.OpenBytes(b, engine.OpenOptions{Key: s.Key, Calendar: s.Calendar, PublicKey: s.Public})
}

// lock takes the data directory's exclusive writer lock (flock, so it is
// released if the process dies), after this Store's own.
func (s *Store) lock() (unlock func(), err error) {
	s.commitMu.Lock()
	f, err := os.OpenFile(filepath.Join(s.Dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		if err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
		}
	}
	if err != nil {
		s.commitMu.Unlock()
		return nil, err
	}
	return func() { f.Close(); s.commitMu.Unlock() }, nil
}

// lockRegions takes the locks of the regions with the given indexes, in
// ascending order (so two batches never wait on each other in a circle).
func (s *Store) lockRegions(idx []int) (unlock func()) {
	s.regionMu.Lock()
	if s.regionLock == nil {
		s.regionLock = make([]sync.Mutex, len(s.Regions))
	}
	locks := s.regionLock
	s.regionMu.Unlock()
	for _, i := range idx {
		locks[i].Lock()
	}
	return func() {
		for _, i := range idx {
			locks[i].Unlock()
		}
	}
}

// removeTemps deletes temporary files a killed writer left behind; only
// called with the lock held, so no live writer owns them.
func (s *Store) removeTemps() {
	tmps, _ := filepath.Glob(filepath.Join(s.Dir, ".*.tmp*"))
	for _, t := range tmps {
		os.Remove(t)
	}
}

// AddToken appends a token line to the tokens file (crash-safe rewrite).
func (s *Store) AddToken(line string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	old, err := os.ReadFile(s.TokensPath())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	return WriteFileAtomic(s.TokensPath(), append(old, line...), 0o600)
}

// WriteFileAtomic replaces path with data so that a crash at any instant
// leaves either the old file or the new one: write a temporary file in the
// same directory, fsync it, rename it over path, fsync the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	if _, err = f.Write(data); err == nil {
		if err = f.Chmod(perm); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	crashPoint("synced, not renamed: " + filepath.Base(path))
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// crashPoint is called at each step of a write that spans several files.
// It does nothing, except in the crash test's child process, which stops
// there to be killed (crash_test.go).
var crashPoint = func(step string) {}
