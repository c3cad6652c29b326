package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/yrd-hcx/hcx/loader"
)

// A replica follows a publisher's signed snapshots (docs/http-api.md,
// replicas). It polls the publisher's /v1/snapshot/file (or any static copy
// of it) with If-None-Match, verifies each new file (signature by the pinned
// publisher key, checksums, pseudonym key fingerprint), refuses anything
// older than what it serves, stores it in its own data directory (so a
// restart serves at once) and swaps it in. While the publisher is
// unreachable it keeps serving its last good snapshot and backs off.

// maxSnapshotFile bounds a downloaded snapshot (national scale is ~1.4 GB).
const maxSnapshotFile = 8 << 30

// replicaStatus is what /v1/snapshot reports about following.
type replicaStatus struct {
	mu        sync.Mutex
	etag      string
	lastCheck time.Time // last answer from the publisher (200 or 304)
	lastError string
	failures  int // consecutive
}

// snapshotURL is where a replica fetches from: a publisher's base URL gets
// /v1/snapshot/file appended; a URL naming a file (ending .hcx) is used as
// is, for a copy on a static host.
func snapshotURL(base string) string {
	if strings.HasSuffix(base, ".hcx") {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/v1/snapshot/file"
}

// follow polls the publisher until ctx ends: its snapshot, then its edge
// filter for that snapshot.
func (s *Server) follow(ctx context.Context) {
	// No keep-alive: a poll every few seconds gains nothing from it, and an
	// idle connection held open by each replica makes the publisher's
	// graceful shutdown wait for it.
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}}
	for {
		wait := s.cfg.ReplicaPoll
		if err := s.syncOnce(ctx, client); err != nil && ctx.Err() == nil {
			s.metrics.replicaFailures.Inc()
			s.replica.mu.Lock()
			s.replica.failures++
			s.replica.lastError = err.Error()
			// Back off: 2x per consecutive failure, at most 10 polls.
			wait = s.cfg.ReplicaPoll << min(s.replica.failures, 4)
			wait = min(wait, 10*s.cfg.ReplicaPoll)
			s.replica.mu.Unlock()
			s.log.Warn("replica: sync failed; serving the last good snapshot", "publisher", s.cfg.ReplicaOf, "err", err, "retry_in", wait)
		}
		s.followEdge(ctx, client)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// syncOnce fetches the publisher's snapshot if it changed.
func (s *Server) syncOnce(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, snapshotURL(s.cfg.ReplicaOf), nil)
	if err != nil {
		return err
	}
	if s.cfg.ReplicaToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.ReplicaToken)
	}
	s.replica.mu.Lock()
	etag := s.replica.etag
	s.replica.mu.Unlock()
	if etag != "" && s.Ready() {
		req.Header.Set("If-None-Match", etag)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusNotModified:
		s.synced(etag)
		return nil
	case http.StatusOK:
	default:
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("publisher answered %s: %s", res.Status, bytes.TrimSpace(b))
	}
	file, err := io.ReadAll(io.LimitReader(res.Body, maxSnapshotFile+1))
	if err != nil {
		return fmt.Errorf("reading the snapshot: %w", err)
	}
	if len(file) > maxSnapshotFile {
		return fmt.Errorf("snapshot over %d bytes", maxSnapshotFile)
	}
	if err := s.adopt(file); err != nil {
		s.metrics.reloadFailures.Inc()
		return err
	}
	s.synced(res.Header.Get("ETag"))
	return nil
}

// adopt verifies a snapshot file from the publisher, stores and installs it.
func (s *Server) adopt(file []byte) error {
	snap, err := s.cfg.Store.OpenSnapshot(file)
	if err != nil {
		return fmt.Errorf("snapshot refused: %w", err)
	}
	if cur := s.Snapshot(); cur != nil {
		switch v, live := snap.Info().Version, cur.Info().Version; {
		case v < live:
			return fmt.Errorf("snapshot refused: version %d is older than the live %d (a replay?)", v, live)
		case v == live:
			return nil
		}
	}
	if err := loader.WriteFileAtomic(s.cfg.Store.SnapshotPath(), file, 0o640); err != nil {
		return fmt.Errorf("storing the snapshot: %w", err)
	}
	if err := s.install(snap, file, "publisher"); err != nil {
		return fmt.Errorf("snapshot refused: %w", err)
	}
	return nil
}

func (s *Server) synced(etag string) {
	s.replica.mu.Lock()
	defer s.replica.mu.Unlock()
	s.replica.etag = etag
	s.replica.lastCheck = time.Now()
	s.replica.failures = 0
	s.replica.lastError = ""
	s.metrics.replicaLastSync.SetToCurrentTime()
}

// replicaInfo is the "replica" object of /v1/snapshot.
type replicaInfo struct {
	Publisher     string  `json:"publisher"`
	LastSync      *string `json:"lastSync"`      // last answer from the publisher
	SecondsBehind float64 `json:"secondsBehind"` // since then
	Failures      int     `json:"consecutiveFailures"`
	LastError     string  `json:"lastError,omitempty"`
}

func (s *Server) replicaInfo() *replicaInfo {
	if s.cfg.ReplicaOf == "" {
		return nil
	}
	s.replica.mu.Lock()
	defer s.replica.mu.Unlock()
	ri := &replicaInfo{Publisher: s.cfg.ReplicaOf, Failures: s.replica.failures, LastError: s.replica.lastError}
	if !s.replica.lastCheck.IsZero() {
		t := s.replica.lastCheck.UTC().Format(time.RFC3339)
		ri.LastSync = &t
		ri.SecondsBehind = time.Since(s.replica.lastCheck).Seconds()
	}
	return ri
}
