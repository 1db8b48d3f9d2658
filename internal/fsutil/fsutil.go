package fsutil

import (
	"fmt"
	"os"
)

// SyncDir fsyncs a directory, so that files created, renamed or removed in
// it survive a power loss: fsyncing a file does not make its directory
// entry durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
