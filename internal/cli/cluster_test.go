package cli

import (
	"strings"
	"testing"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kfake"
)

// startFake starts franz-go's in-memory fake cluster (one broker) on a
// loopback port and returns its address.
func startFake(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ClusterID("test-cluster"), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// startCluster starts the cluster the end-to-end tests run against: a
// real Gregor broker, in-process.
func startCluster(t testing.TB) string { return testbroker.Start(t, nil).Addr }
