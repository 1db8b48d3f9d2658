//go:build unix

package perf

import "syscall"

// settle writes every dirty page of the machine back to disk (sync(2)),
// so a run does not pay for the writeback of what earlier runs, of any
// peer, left in the page cache.
func settle() { syscall.Sync() }
