package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/loader"
)

// state is everything a request reads, swapped as one.
type state struct {
	snap *engine.Snapshot
	view *answer.View
	file []byte // the signed snapshot file, for replicas
	etag string
	// fileInfo identifies the file the snapshot came from, so the watcher
	// can tell a new one from the one already loaded.
	fileInfo os.FileInfo
}

// watch polls the data directory until ctx ends: a snapshot written by
// another process (hcx ingest from cron), a changed tokens file; and
// refreshes staleness.
func (s *Server) watch(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	tokInfo := s.tokensInfo
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if fi, err := os.Stat(s.cfg.Store.SnapshotPath()); err == nil {
			if st := s.cur.Load(); s.cfg.ReplicaOf == "" && (st == nil || !sameFile(st.fileInfo, fi)) {
				// A publisher's directory may get a snapshot from hcx ingest;
				// a replica's only from its own follow loop.
				if err := s.reloadSnapshot(); err != nil {
					s.metrics.reloadFailures.Inc()
					s.log.Error("snapshot on disk refused; the live one stays", "err", err)
				}
			} else if st != nil {
				s.refreshView(st)
			}
		}
		if fi, err := os.Stat(s.cfg.Store.TokensPath()); err == nil && !sameFile(tokInfo, fi) {
			if err := s.reloadTokens(); err != nil {
				s.log.Error("tokens file refused; the previous tokens stay", "err", err)
			}
			tokInfo = fi
		}
	}
}

func sameFile(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

func (s *Server) reloadTokens() error {
	// Stat before reading: a change after the stat is seen at the next poll.
	fi, err := os.Stat(s.cfg.Store.TokensPath())
	if err != nil {
		return err
	}
	set, err := auth.Load(s.cfg.Store.TokensPath())
	if err != nil {
		return err
	}
	s.tokens.Store(set)
	if s.tokensInfo == nil {
		s.tokensInfo = fi // what watch starts from
	}
	return nil
}

// reloadSnapshot reads, verifies and installs the snapshot on disk. A file
// that does not verify, or is older than the live one, is refused.
func (s *Server) reloadSnapshot() error {
	fi, err := os.Stat(s.cfg.Store.SnapshotPath())
	if err != nil {
		if os.IsNotExist(err) {
			return loader.ErrNoSnapshot
		}
		return err
	}
	snap, file, err := s.cfg.Store.Current()
	if err != nil {
		return err
	}
	if cur := s.cur.Load(); cur != nil && snap.Info().Version < cur.snap.Info().Version {
		// Remember the file so the refusal is logged once, not every poll.
		s.install(cur.snap, cur.file, fi)
		return fmt.Errorf("snapshot version %d on disk is older than the live %d", snap.Info().Version, cur.snap.Info().Version)
	}
	s.install(snap, file, fi)
	return nil
}

// install makes snap the live snapshot.
func (s *Server) install(snap *engine.Snapshot, file []byte, fi os.FileInfo) {
	st := &state{snap: snap, file: file, fileInfo: fi,
		etag: ETag(snap)}
	st.view = answer.NewView(snap, s.cfg.Store.Calendar.Now(), s.cfg.MaxAge, s.cfg.Store.Calendar.Location())
	old := s.cur.Swap(st)
	if s.cfg.ReplicaOf == "" {
		s.publishEdge(snap) // a replica's follower fetches the publisher's
	}
	s.metrics.snapshotChanged(snap)
	if old == nil || old.snap != snap {
		s.log.Info("snapshot live", "version", snap.Info().Version, "records", snap.Len(), "stale", st.view.StaleList)
	}
}

// refreshView recomputes staleness, which changes with the clock alone.
func (s *Server) refreshView(st *state) {
	v := answer.NewView(st.snap, s.cfg.Store.Calendar.Now(), s.cfg.MaxAge, s.cfg.Store.Calendar.Location())
	if fmt.Sprint(v.StaleList) == fmt.Sprint(st.view.StaleList) {
		return
	}
	next := *st
	next.view = v
	s.cur.CompareAndSwap(st, &next)
}
