//go:build !unix

package perf

// settle is a no-op where sync(2) does not exist.
func settle() {}
