package config

import (
	"errors"
	"testing"
)

// The leadership balance and reassignment throttle settings: Kafka's
// defaults, their bounds, and the throttle rate as a dynamic config.
func TestRebalanceAndThrottleConfigs(t *testing.T) {
	c := Default()
	if !c.AutoLeaderRebalanceEnable || c.LeaderImbalanceCheckIntervalSeconds != 300 || c.LeaderImbalancePerBrokerPercentage != 10 {
		t.Fatalf("defaults: %v %v %v", c.AutoLeaderRebalanceEnable, c.LeaderImbalanceCheckIntervalSeconds, c.LeaderImbalancePerBrokerPercentage)
	}
	for _, kv := range [][2]string{
		{"leader.imbalance.check.interval.seconds", "0"},
		{"leader.imbalance.per.broker.percentage", "101"},
		{"leader.imbalance.per.broker.percentage", "-1"},
		{"follower.replication.throttled.rate", "0"},
	} {
		c := Default()
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("%s=%s: %v", kv[0], kv[1], err)
		}
	}
	if !IsDynamicBrokerConfig("follower.replication.throttled.rate") {
		t.Fatal("follower.replication.throttled.rate is not dynamic")
	}
	if err := ValidateDynamicBrokerConfig("follower.replication.throttled.rate", "1000"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0", "-5", "x"} {
		if err := ValidateDynamicBrokerConfig("follower.replication.throttled.rate", v); !errors.Is(err, ErrInvalidValue) {
			t.Fatalf("rate %q: %v", v, err)
		}
	}
}
