package perf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProduceOptionsValidate(t *testing.T) {
	valid := DefaultProduceOptions()
	valid.Brokers = []string{"127.0.0.1:1"}
	for _, tc := range []struct {
		name   string
		change func(*ProduceOptions)
		want   string // "" = valid; else a substring of the error
	}{
		{"defaults", func(*ProduceOptions) {}, ""},
		{"duration only", func(o *ProduceOptions) { o.Records, o.Duration = 0, time.Second }, ""},
		{"acks=1 without idempotence", func(o *ProduceOptions) { o.Acks, o.Idempotent = "1", false }, ""},
		{"acks=0 rate limited", func(o *ProduceOptions) { o.Acks, o.Idempotent, o.Rate = "0", false, 10 }, ""},
		{"every codec", func(o *ProduceOptions) { o.Compression = "zstd" }, ""},
		{"empty record", func(o *ProduceOptions) { o.RecordSize = 0 }, ""},
		{"no brokers", func(o *ProduceOptions) { o.Brokers = nil }, "no brokers"},
		{"empty broker", func(o *ProduceOptions) { o.Brokers = []string{""} }, "empty broker"},
		{"no topic", func(o *ProduceOptions) { o.Topic = "" }, "no topic"},
		{"no stop", func(o *ProduceOptions) { o.Records, o.Duration = 0, 0 }, "record count or a duration"},
		{"negative records", func(o *ProduceOptions) { o.Records = -1 }, "records -1"},
		{"negative duration", func(o *ProduceOptions) { o.Duration = -1 }, "duration"},
		{"huge record", func(o *ProduceOptions) { o.RecordSize = maxRecordSize + 1 }, "record size"},
		{"negative rate", func(o *ProduceOptions) { o.Rate = -1 }, "rate"},
		{"no producers", func(o *ProduceOptions) { o.Producers = 0 }, "producers 0"},
		{"too many producers", func(o *ProduceOptions) { o.Producers = maxProducers + 1 }, "producers"},
		{"negative linger", func(o *ProduceOptions) { o.Linger = -time.Millisecond }, "linger"},
		{"bad acks", func(o *ProduceOptions) { o.Acks = "2" }, `acks "2"`},
		{"bad codec", func(o *ProduceOptions) { o.Compression = "brotli" }, `compression "brotli"`},
		{"idempotent acks=1", func(o *ProduceOptions) { o.Acks = "1" }, "idempotence needs acks=all"},
		{"negative partitions", func(o *ProduceOptions) { o.Partitions = -1 }, "partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			checkValidation(t, o.Validate(), tc.want)
		})
	}
}

func TestConsumeOptionsValidate(t *testing.T) {
	valid := ConsumeOptions{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Records: 10}
	for _, tc := range []struct {
		name   string
		change func(*ConsumeOptions)
		want   string
	}{
		{"valid", func(*ConsumeOptions) {}, ""},
		{"duration", func(o *ConsumeOptions) { o.Records, o.Duration = 0, time.Second }, ""},
		{"no stop", func(o *ConsumeOptions) { o.Records = 0 }, "record count or a duration"},
		{"no topic", func(o *ConsumeOptions) { o.Topic = "" }, "no topic"},
		{"negative fetch", func(o *ConsumeOptions) { o.FetchMaxPartitionBytes = -1 }, "fetch max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			checkValidation(t, o.Validate(), tc.want)
		})
	}
}

func TestE2EOptionsValidate(t *testing.T) {
	valid := DefaultE2EOptions()
	valid.Brokers = []string{"127.0.0.1:1"}
	for _, tc := range []struct {
		name   string
		change func(*E2EOptions)
		want   string
	}{
		{"defaults", func(*E2EOptions) {}, ""},
		{"smallest record", func(o *E2EOptions) { o.RecordSize = e2eHeaderBytes }, ""},
		{"record too small for the header", func(o *E2EOptions) { o.RecordSize = e2eHeaderBytes - 1 }, "record size"},
		{"unlimited rate", func(o *E2EOptions) { o.Rate = 0 }, "rate 0"},
		{"negative warmup", func(o *E2EOptions) { o.Warmup = -1 }, "warmup"},
		{"idempotent acks=0", func(o *E2EOptions) { o.Acks = "0" }, "idempotence"},
		{"no stop", func(o *E2EOptions) { o.Records, o.Duration = 0, 0 }, "record count or a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			checkValidation(t, o.Validate(), tc.want)
		})
	}
}

func TestCompareOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    CompareOptions
		want string
	}{
		{"zero takes defaults", CompareOptions{}, ""},
		{"defaults", DefaultCompareOptions(), ""},
		{"quick", QuickCompareOptions(), ""},
		{"unknown peer", CompareOptions{Peers: []string{"kafka"}}, `peer "kafka"`},
		{"unknown workload", CompareOptions{Kinds: []string{"fetch"}}, `workload "fetch"`},
		{"two repetitions", CompareOptions{Repetitions: 2}, "repetitions 2"},
		{"negative records", CompareOptions{Records: -5}, "records -5"},
		{"tiny records", CompareOptions{RecordSizes: []int{8}}, "record size 8"},
		{"zero partitions", CompareOptions{Partitions: []int{0}}, "partitions 0"},
		{"acks 0", CompareOptions{Acks: []string{"0"}}, `acks "0"`},
		{"negative e2e rate", CompareOptions{E2ERate: -1}, "e2e rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkValidation(t, tc.o.Validate(), tc.want)
		})
	}
	if d := (CompareOptions{Quick: true}).withDefaults(); d.Records != QuickCompareOptions().Records || d.E2EDuration != 2*time.Second {
		t.Fatalf("quick defaults: %+v", d)
	}
	if d := (CompareOptions{Quick: true, Records: 7}).withDefaults(); d.Records != 7 {
		t.Fatalf("quick overrode an explicit record count: %d", d.Records)
	}
}

func checkValidation(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q wrapping ErrInvalidOptions", err, want)
	}
}
