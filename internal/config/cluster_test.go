package config

import (
	"errors"
	"testing"
)

func TestParseVoters(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want map[int32]string
		ok   bool
	}{
		{nil, map[int32]string{}, true},
		{[]string{"1@127.0.0.1:19093", "2@localhost:19094"}, map[int32]string{1: "127.0.0.1:19093", 2: "localhost:19094"}, true},
		{[]string{"1:127.0.0.1:19093"}, nil, false},
		{[]string{"x@127.0.0.1:1"}, nil, false},
		{[]string{"-1@127.0.0.1:1"}, nil, false},
		{[]string{"1@nohost"}, nil, false},
		{[]string{"1@a:1", "1@b:2"}, nil, false},
		{[]string{"0@a:1", "1@a:2", "2@a:3", "3@a:4", "4@a:5", "5@a:6"}, nil, false},
	} {
		got, err := ParseVoters(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseVoters(%v) err = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseVoters(%v) err = %v, want ErrInvalidValue", tc.in, err)
		}
		if tc.ok && len(got) != len(tc.want) {
			t.Errorf("ParseVoters(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for id, addr := range tc.want {
			if got[id] != addr {
				t.Errorf("ParseVoters(%v)[%d] = %q, want %q", tc.in, id, got[id], addr)
			}
		}
	}
}

func TestClusterConfig(t *testing.T) {
	if _, err := Load("", map[string]string{"controller.quorum.voters": "1@127.0.0.1:1"}); err == nil {
		t.Error("voters without controller.listener accepted")
	}
	c, err := Load("", map[string]string{"controller.quorum.voters": "1@127.0.0.1:1", "controller.listener": "127.0.0.1:1"})
	if err != nil || !c.Clustered() {
		t.Fatalf("Load: %v, clustered %v", err, c != nil && c.Clustered())
	}
	if _, err := Load("", map[string]string{"broker.session.timeout.ms": "100", "broker.heartbeat.interval.ms": "200"}); err == nil {
		t.Error("session timeout below the heartbeat interval accepted")
	}
	if Default().Clustered() {
		t.Error("the default config is clustered")
	}
}

// A node not among the voters is a learner: valid, with a Raft listener.
func TestLearnerConfig(t *testing.T) {
	voters := "1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3"
	for _, tc := range []struct {
		name      string
		set       map[string]string
		ok, voter bool
	}{
		{"voter", map[string]string{"node.id": "2", "controller.quorum.voters": voters, "controller.listener": "127.0.0.1:2"}, true, true},
		{"learner", map[string]string{"node.id": "7", "controller.quorum.voters": voters, "controller.listener": "127.0.0.1:7"}, true, false},
		{"learner on every interface", map[string]string{"node.id": "7", "controller.quorum.voters": voters, "controller.listener": ":9093"}, true, false},
		{"learner without a Raft listener", map[string]string{"node.id": "7", "controller.quorum.voters": voters}, false, false},
		{"single node", map[string]string{"node.id": "1"}, true, false},
	} {
		c, err := Load("", tc.set)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Load err = %v, want ok %v", tc.name, err, tc.ok)
			continue
		}
		if err == nil && c.IsVoter() != tc.voter {
			t.Errorf("%s: IsVoter = %v, want %v", tc.name, c.IsVoter(), tc.voter)
		}
	}
}
