package fsutil

import (
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old content or the new, never a mix: it writes a temporary file beside
// path, fsyncs it, renames it over path and fsyncs the directory (without
// that last step the rename itself may not survive a power loss). The
// temporary file is path + ".tmp"; on error it is removed.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// ReplaceFile replaces path with data by writing a temporary file and
// renaming it over path, without any fsync: readers see the old content or
// the new, never a mix, but after a power loss the file may be the old
// one, the new one, or empty or torn. Only for files whose loss or damage
// is safe and detected (a checksum), written too often to pay two fsyncs
// each time.
func ReplaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, data, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
