package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// dev cluster refuses node and voter counts it cannot run, as bad usage.
func TestDevClusterNodesFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--nodes", "0"}, "--nodes"},
		{[]string{"--nodes", "-1"}, "--nodes"},
		{[]string{"--nodes", "17"}, "--nodes"},
		{[]string{"--nodes", "6", "--voters", "6"}, "--voters"},
		{[]string{"--nodes", "3", "--voters", "4"}, "--voters"},
		{[]string{"--nodes", "3", "--voters", "-1"}, "--voters"},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"dev", "cluster"}, tc.args...), strings.NewReader(""), &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tc.flag) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %s", tc.args, code, errOut.String(), exitUsage, tc.flag)
		}
	}
}

// Without --voters the voters are the largest odd number of nodes up to
// five.
func TestDevVoters(t *testing.T) {
	for nodes, want := range map[int]int{1: 1, 2: 1, 3: 3, 4: 3, 5: 5, 6: 5, 16: 5} {
		if got := devVoters(nodes); got != want {
			t.Errorf("devVoters(%d) = %d, want %d", nodes, got, want)
		}
	}
}
