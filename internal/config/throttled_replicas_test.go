package config

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseThrottledReplicas(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ThrottledReplicas
		text string // String() of the result
	}{
		{"", ThrottledReplicas{}, ""},
		{"  ", ThrottledReplicas{}, ""},
		{"*", ThrottledReplicas{All: true}, "*"},
		{" * ", ThrottledReplicas{All: true}, "*"},
		{"0:1", ThrottledReplicas{Replicas: []ThrottledReplica{{0, 1}}}, "0:1"},
		{"0:101, 0:102 ,1:102,", ThrottledReplicas{Replicas: []ThrottledReplica{{0, 101}, {0, 102}, {1, 102}}}, "0:101,0:102,1:102"},
		{",,3:4,,", ThrottledReplicas{Replicas: []ThrottledReplica{{3, 4}}}, "3:4"},
		{"0:1,0:1", ThrottledReplicas{Replicas: []ThrottledReplica{{0, 1}, {0, 1}}}, "0:1,0:1"},
		{"2147483647:2147483647", ThrottledReplicas{Replicas: []ThrottledReplica{{2147483647, 2147483647}}}, "2147483647:2147483647"},
	} {
		got, err := ParseThrottledReplicas(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) || got.String() != tc.text {
			t.Errorf("ParseThrottledReplicas(%q) = %+v (%q), %v; want %+v (%q)", tc.in, got, got.String(), err, tc.want, tc.text)
		}
		if err := ValidateTopicConfig(LeaderThrottledReplicas, tc.in); err != nil {
			t.Errorf("ValidateTopicConfig(%q): %v", tc.in, err)
		}
	}
	for _, bad := range []string{
		"0", "0:", ":1", "a:1", "0:b", "-1:2", "1:-2", "+1:2", "0:1:2", "0 :1", "0: 1",
		"*,0:1", "0:1,*", "**", "2147483648:1", "1:2147483648", "0;1",
	} {
		if got, err := ParseThrottledReplicas(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseThrottledReplicas(%q) = %+v, %v; want ErrInvalidValue", bad, got, err)
		}
		for _, name := range []string{LeaderThrottledReplicas, FollowerThrottledReplicas} {
			if err := ValidateTopicConfig(name, bad); !errors.Is(err, ErrInvalidValue) {
				t.Errorf("ValidateTopicConfig(%s, %q) = %v; want ErrInvalidValue", name, bad, err)
			}
		}
	}
}

func TestThrottledReplicasContains(t *testing.T) {
	list := ThrottledReplicas{Replicas: []ThrottledReplica{{0, 1}, {2, 3}}}
	for _, tc := range []struct {
		list              ThrottledReplicas
		partition, broker int32
		want              bool
	}{
		{ThrottledReplicas{}, 0, 1, false},
		{ThrottledReplicas{All: true}, 7, 9, true},
		{list, 0, 1, true},
		{list, 2, 3, true},
		{list, 0, 3, false}, // partition 0 on broker 3 is not listed
		{list, 1, 1, false},
		{list, 3, 2, false}, // PARTITION:BROKER, not the other way round
	} {
		if got := tc.list.Contains(tc.partition, tc.broker); got != tc.want {
			t.Errorf("%q.Contains(%d, %d) = %v, want %v", tc.list.String(), tc.partition, tc.broker, got, tc.want)
		}
	}
	if !(ThrottledReplicas{}).IsEmpty() || (ThrottledReplicas{All: true}).IsEmpty() || list.IsEmpty() {
		t.Error("IsEmpty")
	}
}

// The throttled-replicas topic configs and the leader rate are known,
// described with their defaults, and the rate is dynamic with a floor.
func TestReplicationThrottleConfigs(t *testing.T) {
	c := Default()
	for _, name := range []string{LeaderThrottledReplicas, FollowerThrottledReplicas} {
		v, src, _, ok := c.TopicValue(name, nil)
		if !ok || v != "" || src != SourceDefault {
			t.Errorf("TopicValue(%s) = %q, %v, %v; want the empty default", name, v, src, ok)
		}
		if got := NormalizeTopicConfig(name, " 0:1 , 1:2 "); got != "0:1,1:2" {
			t.Errorf("NormalizeTopicConfig(%s) = %q", name, got)
		}
	}
	if !IsDynamicBrokerConfig("leader.replication.throttled.rate") {
		t.Fatal("leader.replication.throttled.rate is not dynamic")
	}
	if err := ValidateDynamicBrokerConfig("leader.replication.throttled.rate", "1"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"0", "-5", "x"} {
		if err := ValidateDynamicBrokerConfig("leader.replication.throttled.rate", v); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("leader.replication.throttled.rate=%q: %v", v, err)
		}
	}
	if v, ok := c.Get("leader.replication.throttled.rate"); !ok || v != "9223372036854775807" {
		t.Errorf("default leader.replication.throttled.rate = %q, %v", v, ok)
	}
	c.LeaderReplicationThrottledRate = 0
	if errs := c.validateCluster(); len(errs) != 1 {
		t.Errorf("validateCluster with leader rate 0: %v", errs)
	}
}

// FuzzParseThrottledReplicas: any string parses or is refused without a
// panic, and a parsed list formats to text that parses back to it.
func FuzzParseThrottledReplicas(f *testing.F) {
	for _, s := range []string{"", "*", " * ", "0:1", "0:101,0:102,1:102", ",,3:4,", "0:1:2", "*,0:1", "2147483648:1", "a:b", "00:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseThrottledReplicas(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("%q: error %v is not ErrInvalidValue", s, err)
			}
			return
		}
		text := r.String()
		again, err := ParseThrottledReplicas(text)
		if err != nil || !reflect.DeepEqual(again, r) && !(again.IsEmpty() && r.IsEmpty()) {
			t.Fatalf("%q parsed to %+v, formatted %q, parsed back to %+v, %v", s, r, text, again, err)
		}
		if again.String() != text {
			t.Fatalf("%q: String not stable: %q then %q", s, text, again.String())
		}
	})
}
