package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Manager holds the logs of one data directory (log.dirs): every
// subdirectory is a partition. It opens them all at startup, in parallel
// with a bounded number of workers, and runs the one broker-wide flush.ms
// ticker (Run), so no log needs a goroutine of its own.
//
// The broker may also open logs with Open(dir, cfg) directly; it then calls
// FlushIfDue on them from its own ticker, or registers them here with Add.
type Manager struct {
	root string

	mu   sync.Mutex
	logs map[string]*Log // by partition directory name; one per hosted partition
}

// openWorkers bounds the parallelism of OpenAll: opening is a few small
// syscalls per partition, so a handful of workers hides their latency.
const openWorkers = 8

// NewManager returns a Manager for the data directory root (created if
// missing). It opens nothing; see OpenAll.
func NewManager(root string) (*Manager, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &Manager{root: root, logs: map[string]*Log{}}, nil
}

// Root is the data directory.
func (m *Manager) Root() string { return m.root }

// OpenAll opens every partition directory under root with the config
// cfgFor returns for its name, and returns the names. A partition that
// fails to open is reported in the error (all of them, joined) and
// skipped; the others are open.
func (m *Manager) OpenAll(cfgFor func(name string) Config) ([]string, error) {
	entries, err := os.ReadDir(m.root)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !isHidden(e.Name()) {
			names = append(names, e.Name())
		}
	}
	work := make(chan string)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for w := 0; w < min(openWorkers, len(names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if _, err := m.Open(name, cfgFor(name)); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
			}
		}()
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	opened := m.Names()
	return opened, errors.Join(errs...)
}

func isHidden(name string) bool { return len(name) > 0 && name[0] == '.' }

// Open opens (creating if needed) the partition directory name under root
// and registers the log; an already open log is returned as is.
func (m *Manager) Open(name string, cfg Config) (*Log, error) {
	if name == "" || name != filepath.Base(name) || isHidden(name) {
		return nil, fmt.Errorf("storage: bad partition directory name %q", name)
	}
	m.mu.Lock()
	l, ok := m.logs[name]
	m.mu.Unlock()
	if ok {
		return l, nil
	}
	l, err := Open(filepath.Join(m.root, name), cfg)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if other, ok := m.logs[name]; ok { // lost a race with another Open
		l.Close()
		return other, nil
	}
	m.logs[name] = l
	return l, nil
}

// Add registers a log opened elsewhere, for the flush ticker.
func (m *Manager) Add(name string, l *Log) {
	m.mu.Lock()
	m.logs[name] = l
	m.mu.Unlock()
}

// Get returns the open log of a partition directory, or nil.
func (m *Manager) Get(name string) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[name]
}

// Names lists the open partitions, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	names := make([]string, 0, len(m.logs))
	for n := range m.logs {
		names = append(names, n)
	}
	m.mu.Unlock()
	sort.Strings(names)
	return names
}

// Delete closes a partition's log, removes its directory and forgets it.
func (m *Manager) Delete(name string) error {
	m.mu.Lock()
	l := m.logs[name]
	delete(m.logs, name)
	m.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.Delete()
}

// snapshot copies the open logs so that no I/O happens under mu.
func (m *Manager) snapshot() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	logs := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		logs = append(logs, l)
	}
	return logs
}

// FlushIfDue calls FlushIfDue on every log (one tick of Run).
func (m *Manager) FlushIfDue(now time.Time) error {
	var errs []error
	for _, l := range m.snapshot() {
		if err := l.FlushIfDue(now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run is the broker-wide flush.ms ticker: every tick it flushes the logs
// whose flush.ms has passed, until ctx ends. Kafka's
// log.flush.scheduler.interval.ms is the tick; a second is a sensible
// value (flush.ms is rarely set below that). Failures are logged: the log
// itself refuses further appends after a failed fsync.
func (m *Manager) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := m.FlushIfDue(now); err != nil {
				slog.Error("storage: scheduled flush failed", "err", err)
			}
		}
	}
}

// Close closes every log (each records a clean shutdown).
func (m *Manager) Close() error {
	m.mu.Lock()
	logs := m.logs
	m.logs = map[string]*Log{}
	m.mu.Unlock()
	var errs []error
	for _, l := range logs {
		if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
