package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.LogFlushIntervalMessages != 1 || c.NodeID != 1 || c.LogDir() != "gregor-data" {
		t.Fatalf("defaults: %+v", c)
	}
	if got := c.SegmentMs(); got != 168*3600000 {
		t.Fatalf("segment ms %d", got)
	}
	if got := c.RetentionMs(); got != 168*3600000 {
		t.Fatalf("retention ms %d", got)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gregor.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, `
num.partitions: 2
log.dirs: [/data/a]
listeners:
  - PLAINTEXT://127.0.0.1:19092
log.retention.hours: 24
min.insync.replicas: 1
log.cleaner.min.cleanable.ratio: 0.25
`)
	c, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NumPartitions != 2 || c.LogDir() != "/data/a" || c.Listeners[0] != "PLAINTEXT://127.0.0.1:19092" || c.LogCleanerMinCleanableRatio != 0.25 {
		t.Fatalf("from file: %+v", c)
	}
	if !c.IsSet("num.partitions") || c.IsSet("node.id") {
		t.Fatalf("IsSet wrong")
	}

	t.Setenv("GREGOR_NUM_PARTITIONS", "3")
	t.Setenv("GREGOR_LOG_DIRS", "/data/env")
	c, err = Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NumPartitions != 3 || c.LogDir() != "/data/env" {
		t.Fatalf("env does not win over file: %d %v", c.NumPartitions, c.LogDirs)
	}

	c, err = Load(file, map[string]string{"num.partitions": "4"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NumPartitions != 4 {
		t.Fatalf("flags do not win: %d", c.NumPartitions)
	}
}

// The client commands' and test harnesses' variables share the prefix but
// are not broker configs: Load must leave them alone.
func TestLoadIgnoresOthersEnv(t *testing.T) {
	t.Setenv("GREGOR_BROKERS", "elsewhere:9092")
	t.Setenv("GREGOR_PROFILE", "dev")
	t.Setenv("GREGOR_TEST_REQUIRE_COMPAT", "1")
	if _, err := Load("", nil); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      string
		env       [2]string
		overrides map[string]string
		want      error
	}{
		{name: "unknown file key", file: "log.dir: x\n", want: ErrUnknownKey},
		{name: "nested map", file: "log:\n  dirs: x\n", want: ErrInvalidValue},
		{name: "unknown env", env: [2]string{"GREGOR_NO_SUCH_THING", "1"}, want: ErrUnknownKey},
		{name: "unknown flag", overrides: map[string]string{"nope": "1"}, want: ErrUnknownKey},
		{name: "not a number", overrides: map[string]string{"num.partitions": "many"}, want: ErrInvalidValue},
		{name: "out of range", overrides: map[string]string{"num.partitions": "0"}, want: ErrInvalidValue},
		{name: "int16 overflow", overrides: map[string]string{"default.replication.factor": "70000"}, want: ErrInvalidValue},
		{name: "bad bool", overrides: map[string]string{"auto.create.topics.enable": "yes please"}, want: ErrInvalidValue},
		{name: "bad listener", overrides: map[string]string{"listeners": "localhost:9092"}, want: ErrInvalidValue},
		{name: "ssl listener", overrides: map[string]string{"listeners": "SSL://localhost:9093"}, want: ErrInvalidValue},
		{name: "two dirs", overrides: map[string]string{"log.dirs": "a,b"}, want: ErrInvalidValue},
		{name: "bad cleanup policy", overrides: map[string]string{"log.cleanup.policy": "keep"}, want: ErrInvalidValue},
		{name: "bad timestamp type", overrides: map[string]string{"log.message.timestamp.type": "Now"}, want: ErrInvalidValue},
		{name: "tiny segments", overrides: map[string]string{"log.segment.bytes": "10"}, want: ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			file := ""
			if tc.file != "" {
				file = writeFile(t, tc.file)
			}
			_, err := Load(file, tc.overrides)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestNullableConfigs(t *testing.T) {
	c := Default()
	if _, ok := c.Get("log.roll.ms"); ok {
		t.Fatal("log.roll.ms set by default")
	}
	if err := c.Set("log.roll.ms", "1000"); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("log.roll.ms"); !ok || v != "1000" || c.SegmentMs() != 1000 {
		t.Fatalf("log.roll.ms %q %v", v, ok)
	}
	if err := c.Set("log.roll.ms", ""); err != nil {
		t.Fatal(err)
	}
	if c.SegmentMs() != 168*3600000 {
		t.Fatalf("unset log.roll.ms: %d", c.SegmentMs())
	}
}

func TestTopicValueResolution(t *testing.T) {
	c := Default()
	c.Set("log.retention.hours", "2")
	v, src, syns, ok := c.TopicValue("retention.ms", nil)
	if !ok || v != "7200000" || src != SourceStaticBroker {
		t.Fatalf("retention.ms from hours: %q %v", v, src)
	}
	if len(syns) != 1 || syns[0].Name != "log.retention.hours" {
		t.Fatalf("synonyms %+v", syns)
	}
	c.Set("log.retention.minutes", "3")
	if v, _, _, _ := c.TopicValue("retention.ms", nil); v != "180000" {
		t.Fatalf("minutes should win over hours: %s", v)
	}
	c.Set("log.retention.ms", "-1")
	if v, _, _, _ := c.TopicValue("retention.ms", nil); v != "-1" {
		t.Fatalf("ms should win: %s", v)
	}
	v, src, syns, _ = c.TopicValue("retention.ms", map[string]string{"retention.ms": "5"})
	if v != "5" || src != SourceDynamicTopic || len(syns) != 4 || syns[0].Source != SourceDynamicTopic {
		t.Fatalf("override: %q %v %+v", v, src, syns)
	}
	if v, src, _, _ := c.TopicValue("flush.messages", nil); v != "1" || src != SourceDefault {
		t.Fatalf("flush.messages: %s %v", v, src)
	}
	if _, _, _, ok := c.TopicValue("nope", nil); ok {
		t.Fatal("unknown topic config resolved")
	}
}

func TestValidateTopicConfig(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        error
	}{
		{"retention.ms", "-1", nil},
		{"retention.ms", "-2", ErrInvalidValue},
		{"retention.ms", "1h", ErrInvalidValue},
		{"segment.bytes", "13", ErrInvalidValue},
		{"segment.bytes", "4294967296", ErrInvalidValue},
		{"cleanup.policy", "compact,delete", nil},
		{"cleanup.policy", "compact,forever", ErrInvalidValue},
		{"cleanup.policy", "", ErrInvalidValue},
		{"message.timestamp.type", "LogAppendTime", nil},
		{"message.timestamp.type", "logappendtime", ErrInvalidValue},
		{"min.cleanable.dirty.ratio", "0.5", nil},
		{"min.cleanable.dirty.ratio", "1.5", ErrInvalidValue},
		{"min.cleanable.dirty.ratio", "NaN", ErrInvalidValue},
		{"unclean.leader.election.enable", "true", nil},
		{"unclean.leader.election.enable", "1", ErrInvalidValue},
		{"compression.type", "zstd", nil},
		{"compression.type", "brotli", ErrInvalidValue},
		{"flush.messages", "0", ErrInvalidValue},
		{"no.such", "1", ErrUnknownKey},
	} {
		err := ValidateTopicConfig(tc.name, tc.value)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s=%q: got %v, want %v", tc.name, tc.value, err, tc.want)
		}
	}
	if got := NormalizeTopicConfig("cleanup.policy", " compact , delete,"); got != "compact,delete" {
		t.Fatalf("normalized %q", got)
	}
}

func TestTopicSettings(t *testing.T) {
	c := Default()
	s, err := c.TopicSettings(map[string]string{
		"cleanup.policy":         "compact",
		"segment.bytes":          "1048576",
		"message.timestamp.type": "LogAppendTime",
		"flush.messages":         "100",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Compacted || s.DeleteByRetention || s.SegmentBytes != 1<<20 || !s.LogAppendTime || s.FlushMessages != 100 ||
		s.MaxMessageBytes != 1048588 || s.RetentionMs != 168*3600000 || s.RetentionBytes != -1 {
		t.Fatalf("settings %+v", s)
	}
	if _, err := c.TopicSettings(map[string]string{"segment.bytes": "x"}); err == nil {
		t.Fatal("invalid override accepted")
	}
}

func TestParseListener(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Listener
		ok   bool
	}{
		{"PLAINTEXT://localhost:9092", Listener{"PLAINTEXT", "localhost", 9092}, true},
		{"plaintext://:9092", Listener{"PLAINTEXT", "", 9092}, true},
		{"PLAINTEXT://[::1]:0", Listener{"PLAINTEXT", "::1", 0}, true},
		{"PLAINTEXT://host", Listener{}, false},
		{"PLAINTEXT://host:99999", Listener{}, false},
		{"localhost:9092", Listener{}, false},
	} {
		got, err := ParseListener(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
}

func TestKeyTables(t *testing.T) {
	keys := BrokerKeys()
	if !slices.IsSorted(keys) || !slices.Contains(keys, "log.segment.bytes") {
		t.Fatalf("broker keys %v", keys)
	}
	for _, k := range keys {
		if _, doc, ok := BrokerKeyInfo(k); !ok || doc == "" {
			t.Errorf("%s has no doc", k)
		}
	}
	for _, k := range TopicKeys() {
		// The throttled-replicas lists default to "" (none), as in Kafka.
		emptyDefaultOK := k.Name == LeaderThrottledReplicas || k.Name == FollowerThrottledReplicas
		if k.Doc == "" || len(k.Synonyms) == 0 && k.Default == "" && !emptyDefaultOK {
			t.Errorf("topic config %s lacks a doc or a default", k.Name)
		}
		// Every default must itself be valid.
		v, _, _, _ := Default().TopicValue(k.Name, nil)
		if err := ValidateTopicConfig(k.Name, v); err != nil {
			t.Errorf("default of %s: %v", k.Name, err)
		}
	}
}
