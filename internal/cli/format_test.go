package cli

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCompileFormatErrors(t *testing.T) {
	for _, tc := range []struct {
		format, allowed, wantErr string
	}{
		{`%v\`, outputDirectives, "trailing backslash"},
		{`%`, outputDirectives, "trailing %"},
		{`%q`, outputDirectives, "not a directive"},
		{`%t`, inputDirectives, "not a directive"},
		{`%h{x`, outputDirectives, "unclosed"},
		{`%h`, inputDirectives, "needs a header name"},
		{`%T{unix}`, outputDirectives, "only {rfc3339}"},
		{`%v{x}`, outputDirectives, "takes no {argument}"},
		{`\x`, outputDirectives, "unknown escape"},
	} {
		_, err := compileFormat(tc.format, tc.allowed)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("compileFormat(%q): got %v, want error containing %q", tc.format, err, tc.wantErr)
		}
	}
}

func TestRecordFormatter(t *testing.T) {
	r := &kgo.Record{
		Topic: "orders", Partition: 2, Offset: 41, LeaderEpoch: 3,
		Timestamp: time.UnixMilli(1700000000123),
		Key:       []byte("k1"), Value: []byte("hello"),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}, {Key: "n", Value: []byte("1")}},
	}
	for _, tc := range []struct {
		format string
		rec    *kgo.Record
		want   string
	}{
		{`%v\n`, r, "hello\n"},
		{`%t/%p@%o e%e %k=%v`, r, "orders/2@41 e3 k1=hello"},
		{`%T %T{rfc3339}`, r, "1700000000123 2023-11-14T22:13:20.123Z"},
		{`%K %V %H`, r, "2 5 2"},
		{`[%h] [%h{trace}] [%h{missing}]`, r, "[trace=abc,n=1] [abc] []"},
		{`100%% %v\t\\\r`, r, "100% hello\t\\\r"},
		{`%K %V`, &kgo.Record{}, "-1 -1"},
	} {
		f, err := newRecordFormatter(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		f.write(w, tc.rec)
		w.Flush()
		if got := buf.String(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.format, got, tc.want)
		}
	}
}

type parsed struct {
	key, value string
	nullKey    bool
	headers    string
	partition  int32
	tsMs       int64
}

func readAll(t *testing.T, format, input string, max int) ([]parsed, error) {
	t.Helper()
	rr, err := newRecordReader(format, strings.NewReader(input), max)
	if err != nil {
		return nil, err
	}
	var out []parsed
	for {
		r, err := rr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p := parsed{key: string(r.Key), value: string(r.Value), nullKey: r.Key == nil, partition: r.Partition}
		if !r.Timestamp.IsZero() {
			p.tsMs = r.Timestamp.UnixMilli()
		}
		for i, h := range r.Headers {
			if i > 0 {
				p.headers += ","
			}
			p.headers += h.Key + "=" + string(h.Value)
		}
		out = append(out, p)
	}
}

func TestRecordReader(t *testing.T) {
	for _, tc := range []struct {
		name, format, input string
		want                []parsed
	}{
		{"lines", `%v\n`, "a\nb\n", []parsed{{value: "a", nullKey: true, partition: -1}, {value: "b", nullKey: true, partition: -1}}},
		{"implicit newline", `%v`, "a\nb", []parsed{{value: "a", nullKey: true, partition: -1}, {value: "b", nullKey: true, partition: -1}}},
		{"empty lines are empty values", `%v`, "\n\n", []parsed{{nullKey: true, partition: -1}, {nullKey: true, partition: -1}}},
		{"key value", `%k %v`, "k1 v 1\n k2\n", []parsed{{key: "k1", value: "v 1", partition: -1}, {value: "k2", nullKey: true, partition: -1}}},
		{"multi-byte delimiters", `%k::%v||`, "a::b||c::d||", []parsed{{key: "a", value: "b", partition: -1}, {key: "c", value: "d", partition: -1}}},
		{"headers", `%h{trace};%h{n};%v`, "x;1;hello\n", []parsed{{value: "hello", nullKey: true, headers: "trace=x,n=1", partition: -1}}},
		{"partition and time", `%p %T %v`, "2 1700000000000 a\n1 2023-11-14T22:13:20Z b\n",
			[]parsed{{value: "a", nullKey: true, partition: 2, tsMs: 1700000000000}, {value: "b", nullKey: true, partition: 1, tsMs: 1700000000000}}},
		{"leading literal", `>%v\n`, ">a\n>b\n", []parsed{{value: "a", nullKey: true, partition: -1}, {value: "b", nullKey: true, partition: -1}}},
		{"no input", `%v`, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.format, tc.input, 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("record %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestRecordReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, format, input string
		max                 int
		wantErr             string
	}{
		{"adjacent directives", `%k%v`, "", 10, "need text between"},
		{"empty format", ``, "", 10, "is empty"},
		{"missing delimiter", `%k %v`, "novalue\n", 10, "input ends before"},
		{"leading literal mismatch", `>%v`, "x\n", 10, `expected ">"`},
		{"too large", `%v`, "0123456789abc\n", 10, "larger than"},
		{"bad partition", `%p %v`, "x a\n", 10, "bad partition"},
		{"bad timestamp", `%T %v`, "yesterday a\n", 100, "bad timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, tc.format, tc.input, tc.max)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	_, err := readAll(t, `%v`, strings.Repeat("x", 100)+"\n", 10)
	if !errors.Is(err, errRecordTooLarge) {
		t.Fatalf("got %v, want errRecordTooLarge", err)
	}
}

// FuzzRecordReader feeds arbitrary input (a file given to produce) through
// a few formats: parsing must end, stay within the bound, and never panic.
func FuzzRecordReader(f *testing.F) {
	f.Add(`%v`, "a\nb\n")
	f.Add(`%k %v`, "k v\n\n")
	f.Add(`%h{a};%p;%T;%v||`, "x;1;17;v||y;2;2023-11-14T22:13:20Z;w||")
	f.Add(`>%k::%v`, ">a::b\n>")
	f.Fuzz(func(t *testing.T, format, input string) {
		const max = 64
		rr, err := newRecordReader(format, strings.NewReader(input), max)
		if err != nil {
			return
		}
		for i := 0; i <= len(input); i++ { // each record consumes at least one byte
			r, err := rr.next()
			if err != nil {
				return
			}
			size := len(r.Key) + len(r.Value)
			for _, h := range r.Headers {
				size += len(h.Value)
			}
			if size > max {
				t.Fatalf("record of %d bytes passed a bound of %d", size, max)
			}
		}
		t.Fatalf("more records than input bytes")
	})
}
