package perf

import (
	"os"
	"testing"
)

// TestMain lets Compare's kfake peer run: Compare starts it by re-executing
// its own binary, which in these tests is the test binary.
func TestMain(m *testing.M) {
	ServeKfakeChild()
	os.Exit(m.Run())
}
