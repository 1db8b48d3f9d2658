package perf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrKcatMissing is returned when no kcat binary is found; Compare then
// skips the librdkafka consumer with a note.
var ErrKcatMissing = errors.New("perf: kcat not found")

// findKcat returns bin, or kcat (or its old name kafkacat) on PATH.
func findKcat(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w on PATH (install the kcat package)", ErrKcatMissing)
}

// kcatVersion returns kcat's and librdkafka's versions from `kcat -V`
// ("1.7.1, librdkafka 2.0.2"), or "unknown".
func kcatVersion(bin string) string {
	out, _ := exec.Command(bin, "-V").Output()
	for _, line := range strings.Split(string(out), "\n") {
		version, rest, ok := strings.Cut(strings.TrimSpace(line), " (")
		if !ok || !strings.HasPrefix(version, "Version ") {
			continue
		}
		v := strings.TrimPrefix(version, "Version ")
		if _, lib, ok := strings.Cut(rest, "librdkafka "); ok {
			if f := strings.Fields(lib); len(f) > 0 {
				v += ", librdkafka " + f[0]
			}
		}
		return v
	}
	return "unknown"
}

// ConsumeKcat reads records records of topic from the start of every
// partition with kcat, the command-line client on librdkafka, and measures
// it from starting kcat to its exit. It prints one short line per record
// (the offset) so the output costs little, and counts those lines, so a
// run that reads fewer records than asked fails instead of looking fast.
// valueSize is the records' value size, for Result.Bytes.
//
// librdkafka is the contrast to the franz-go consumer: it keeps fetching
// in a thread of its own while the application drains a local queue, so
// it is not serialised on the application as kgo's PollFetches loop is.
func ConsumeKcat(ctx context.Context, bin string, brokers []string, topic string, records int64, valueSize int) (Result, error) {
	if records <= 0 {
		return Result{}, invalid("kcat: records %d: want > 0", records)
	}
	cmd := exec.CommandContext(ctx, bin, "-C", "-q", "-e",
		"-b", strings.Join(brokers, ","), "-t", topic, "-o", "beginning",
		"-c", strconv.FormatInt(records, 10), "-f", `%o\n`)
	var lines lineCounter
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &lines, stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return Result{}, fmt.Errorf("perf: kcat %s: %w: %s", topic, err, strings.TrimSpace(stderr.String()))
	}
	if lines.n != records {
		return Result{}, fmt.Errorf("perf: kcat %s: read %d records, want %d: %s", topic, lines.n, records, strings.TrimSpace(stderr.String()))
	}
	return Result{Records: records, Bytes: records * int64(valueSize), Elapsed: elapsed}, nil
}

// lineCounter is an io.Writer that counts newlines and keeps nothing.
type lineCounter struct{ n int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it: enough of a failing
// tool's stderr for an error message, bounded whatever it prints.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
