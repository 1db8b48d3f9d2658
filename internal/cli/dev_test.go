package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// dev cluster refuses node counts the quorum cannot have, as bad usage.
func TestDevClusterNodesFlag(t *testing.T) {
	for _, n := range []string{"0", "6", "-1"} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), []string{"dev", "cluster", "--nodes", n}, strings.NewReader(""), &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), "--nodes") {
			t.Errorf("--nodes %s: exit %d, stderr %q; want exit %d naming --nodes", n, code, errOut.String(), exitUsage)
		}
	}
}
