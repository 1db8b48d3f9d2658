package broker_test

import (
	"os"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
)

// TestMain lets kill -9 tests re-execute this binary as a broker.
func TestMain(m *testing.M) {
	testbroker.ServeChildIfAsked()
	os.Exit(m.Run())
}
