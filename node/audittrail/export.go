package audittrail

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// fileMaxBytes is the size at which the export rotates to a new file.
// Files are never deleted by keyquorum: they are the node's evidence.
const fileMaxBytes = 64 << 20

// Export is this node's copy of the audit chain as append-only JSON
// lines, DIR/audit/audit-<first seq>.jsonl, rotated by size. The FSM hands
// records over in chain order from raft's apply loop; AuditAppended only
// queues them, and one writer goroutine writes and fsyncs each batch, so apply
// never waits for the disk.
//
// Records the FSM regenerates when it replays the log after a restart are
// skipped by seq. A gap (the node caught up from a snapshot, or the process
// died before its last batch was synced) is filled from the records the
// replicated state still holds; when those do not reach back far enough,
// the export starts a new file at the first record it has, so every file is
// one contiguous stretch of the chain.
type Export struct {
	dir    string
	log    *slog.Logger
	recent func(from uint64, limit int) []audit.Record // the replicated state's recent records
	// Records counts lines appended to the export; nil counts nothing.
	// Set it before Run starts.
	Records prometheus.Counter
	// Mismatches counts export lines that disagree with the replicated
	// chain; nil counts nothing. Set it before Run starts.
	Mismatches prometheus.Counter

	mu      sync.Mutex
	queue   []audit.Record
	wake    chan struct{}
	closed  bool
	written uint64 // last seq written and synced, for readers

	// Writer state: only the writer goroutine (and open, before it starts)
	// touches these.
	f        *os.File
	size     int64
	lastSeq  uint64
	lastHash string
}

// OpenExport opens the export in dir, truncating a line torn by a crash;
// recent reads the replicated state's records from a seq on.
func OpenExport(dir string, log *slog.Logger, recent func(from uint64, limit int) []audit.Record) (*Export, error) {
	l := &Export{dir: dir, log: log, recent: recent, wake: make(chan struct{}, 1)}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audittrail: dir: %w", err)
	}
	files, err := l.files()
	if err != nil {
		return nil, err
	}
	for len(files) > 0 {
		last := files[len(files)-1]
		seq, hash, size, err := lastRecord(last.path)
		if err != nil {
			return nil, err
		}
		if seq == 0 { // empty, or only a torn first line: drop it
			if err := os.Remove(last.path); err != nil {
				return nil, fmt.Errorf("audittrail: %w", err)
			}
			files = files[:len(files)-1]
			continue
		}
		if l.f, err = os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return nil, fmt.Errorf("audittrail: %w", err)
		}
		l.size, l.lastSeq, l.lastHash, l.written = size, seq, hash, seq
		break
	}
	return l, nil
}

type exportFile struct {
	first uint64
	path  string
}

// files lists the export files, oldest first.
func (l *Export) files() ([]exportFile, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("audittrail: %w", err)
	}
	var out []exportFile
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "audit-") || !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "audit-"), ".jsonl"), 10, 64)
		if err != nil {
			continue
		}
		out = append(out, exportFile{first, filepath.Join(l.dir, name)})
	}
	slices.SortFunc(out, func(a, b exportFile) int { return cmp.Compare(a.first, b.first) })
	return out, nil
}

// lastRecord returns the last complete record of an export file and the
// file's size, truncating a torn last line left by a crash mid-write.
func lastRecord(path string) (seq uint64, hash string, size int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return 0, "", 0, fmt.Errorf("audittrail: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", 0, fmt.Errorf("audittrail: %w", err)
	}
	size = st.Size()
	start := max(0, size-2*audit.MaxLineBytes)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return 0, "", 0, fmt.Errorf("audittrail: read %s: %w", path, err)
	}
	if end := bytes.LastIndexByte(buf, '\n') + 1; end < len(buf) {
		if err := f.Truncate(start + int64(end)); err != nil {
			return 0, "", 0, fmt.Errorf("audittrail: truncate torn line: %w", err)
		}
		buf, size = buf[:end], start+int64(end)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf, []byte("\n")), []byte("\n"))
	var r audit.Record
	if len(buf) == 0 || json.Unmarshal(lines[len(lines)-1], &r) != nil {
		return 0, "", size, nil
	}
	return r.Seq, r.Hash, size, nil
}

// AuditAppended takes the records an applied entry appended to the chain
// (the FSM's AuditObserver hook): it only queues.
func (l *Export) AuditAppended(recs []audit.Record) {
	l.mu.Lock()
	if !l.closed {
		l.queue = append(l.queue, recs...)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// syncEvery bounds how often the export is fsynced.
const syncEvery = 50 * time.Millisecond

// Run writes queued records until done is closed, then drains the queue.
func (l *Export) Run(done <-chan struct{}) {
	for {
		l.mu.Lock()
		batch := l.queue
		l.queue = nil
		l.mu.Unlock()
		if len(batch) > 0 {
			if err := l.write(batch); err != nil {
				l.log.Error("audit export failed; records stay in the replicated chain", "err", err)
			}
			// Group commit: at most one fsync per syncEvery. Each
			// fsync competes with raft's own on the same disk, on the
			// sign path; a crash loses at most this much of the export's
			// tail, which is refilled from the replicated chain at start.
			select {
			case <-time.After(syncEvery):
			case <-done:
			}
			continue
		}
		select {
		case <-l.wake:
		case <-done:
			l.mu.Lock()
			l.closed = true
			rest := l.queue
			l.queue = nil
			l.mu.Unlock()
			if len(rest) > 0 {
				if err := l.write(rest); err != nil {
					l.log.Error("audit export failed at shutdown", "err", err)
				}
			}
			if l.f != nil {
				l.f.Close()
			}
			return
		}
	}
}

// write appends a batch in order and syncs it.
func (l *Export) write(batch []audit.Record) error {
	var buf []byte
	var err error
	for i := range batch {
		r := &batch[i]
		switch {
		case r.Seq <= l.lastSeq:
			if r.Seq == l.lastSeq && r.Hash != l.lastHash {
				l.log.Error("audit export disagrees with the replicated chain", "seq", r.Seq)
				if l.Mismatches != nil {
					l.Mismatches.Inc()
				}
			}
			continue
		case r.Seq > l.lastSeq+1:
			if buf, err = l.fillGap(buf, r.Seq); err != nil {
				return err
			}
		}
		if l.f == nil || l.size+int64(len(buf)) >= fileMaxBytes {
			if buf, err = l.rotate(buf, r.Seq); err != nil {
				return err
			}
		}
		if buf, err = audit.AppendJSONL(buf, r); err != nil {
			return err
		}
		l.lastSeq, l.lastHash = r.Seq, r.Hash
	}
	return l.flush(buf)
}

// fillGap appends the records before seq that the state still holds; when
// they do not join up with the export, it starts a new file instead.
func (l *Export) fillGap(buf []byte, seq uint64) ([]byte, error) {
	missing := l.recent(l.lastSeq+1, int(seq-l.lastSeq-1))
	if len(missing) > 0 && missing[0].Seq == l.lastSeq+1 && missing[0].PrevHash == l.lastHash ||
		len(missing) > 0 && l.f == nil {
		var err error
		if l.f == nil {
			if buf, err = l.rotate(buf, missing[0].Seq); err != nil {
				return buf, err
			}
		}
		for i := range missing {
			if buf, err = audit.AppendJSONL(buf, &missing[i]); err != nil {
				return buf, err
			}
			l.lastSeq, l.lastHash = missing[i].Seq, missing[i].Hash
		}
		if l.lastSeq+1 == seq {
			return buf, nil
		}
	}
	l.log.Warn("audit export has a gap; starting a new file", "after_seq", l.lastSeq, "next_seq", seq)
	return l.rotate(buf, seq)
}

// rotate flushes buf to the current file and opens a new one whose first
// record is first.
func (l *Export) rotate(buf []byte, first uint64) ([]byte, error) {
	if err := l.flush(buf); err != nil {
		return nil, err
	}
	if l.f != nil {
		l.f.Close()
	}
	path := filepath.Join(l.dir, fmt.Sprintf("audit-%020d.jsonl", first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audittrail: %w", err)
	}
	l.f, l.size = f, 0
	if d, err := os.Open(l.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil, nil
}

func (l *Export) flush(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if _, err := l.f.Write(buf); err != nil {
		return fmt.Errorf("audittrail: write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audittrail: sync: %w", err)
	}
	l.size += int64(len(buf))
	if l.Records != nil {
		l.Records.Add(float64(bytes.Count(buf, []byte("\n")))) // one record per line
	}
	l.mu.Lock()
	l.written = l.lastSeq
	l.mu.Unlock()
	return nil
}

// FirstSeq returns the oldest seq on disk, 0 when there is none.
func (l *Export) FirstSeq() uint64 {
	files, err := l.files()
	if err != nil || len(files) == 0 {
		return 0
	}
	return files[0].first
}

// Scan calls fn with this node's records from seq from on, in order: the
// synced files first, then whatever the replicated state holds beyond
// them. It stops when fn returns false. Lines being written concurrently
// are not read: scanning stops at the last synced record of each file.
func (l *Export) Scan(from uint64, fn func(*audit.Record) bool) error {
	files, err := l.files()
	if err != nil {
		return err
	}
	l.mu.Lock()
	written := l.written
	l.mu.Unlock()
	next := from
	for i, af := range files {
		if i+1 < len(files) && files[i+1].first <= from {
			continue // entirely before from
		}
		more, err := scanFile(af.path, next, written, func(r *audit.Record) bool {
			next = r.Seq + 1
			return fn(r)
		})
		if err != nil || !more {
			return err
		}
	}
	for {
		recs := l.recent(next, 512)
		if len(recs) == 0 {
			return nil
		}
		for i := range recs {
			next = recs[i].Seq + 1
			if !fn(&recs[i]) {
				return nil
			}
		}
	}
}

// scanFile reads the records of one file with from <= seq <= upTo.
func scanFile(path string, from, upTo uint64, fn func(*audit.Record) bool) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("audittrail: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), audit.MaxLineBytes)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return true, nil // a line still being written
		}
		if r.Seq > upTo {
			return true, nil
		}
		if r.Seq < from {
			continue
		}
		if !fn(&r) {
			return false, nil
		}
	}
	return true, sc.Err()
}
