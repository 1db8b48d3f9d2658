package faulttest

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	ServeChildIfAsked()
	os.Exit(m.Run())
}
