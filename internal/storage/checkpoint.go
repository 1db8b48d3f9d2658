package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Partition-level files besides the segments; layouts in doc.go.
const (
	epochCheckpointName    = "leader-epoch-checkpoint"
	logStartCheckpointName = "log-start-offset-checkpoint"
	cleanShutdownName      = ".clean-shutdown"
	checkpointVersion      = 0
)

// syncDir makes a directory's entries (created, renamed, removed files)
// durable.

// checkpointLines parses Kafka's checkpoint text: a version line, a count
// line, then count entry lines, each a fields-per-line list of integers.
// Anything else is an error, so a damaged file is never half-trusted.
func checkpointLines(data []byte, fieldsPerLine int) ([][]int64, error) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, errors.New("checkpoint: not newline-terminated")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if len(lines) < 2 {
		return nil, errors.New("checkpoint: missing header")
	}
	if v, err := strconv.Atoi(lines[0]); err != nil || v != checkpointVersion {
		return nil, fmt.Errorf("checkpoint: version %q", lines[0])
	}
	count, err := strconv.Atoi(lines[1])
	if err != nil || count < 0 || count != len(lines)-2 {
		return nil, fmt.Errorf("checkpoint: count %q for %d lines", lines[1], len(lines)-2)
	}
	out := make([][]int64, 0, count)
	for _, line := range lines[2:] {
		fields := strings.Split(line, " ")
		if len(fields) != fieldsPerLine {
			return nil, fmt.Errorf("checkpoint: line %q", line)
		}
		vals := make([]int64, fieldsPerLine)
		for i, f := range fields {
			if vals[i], err = strconv.ParseInt(f, 10, 64); err != nil {
				return nil, fmt.Errorf("checkpoint: line %q: %w", line, err)
			}
		}
		out = append(out, vals)
	}
	return out, nil
}

func formatCheckpoint(lines [][]int64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(lines))
	for _, l := range lines {
		for i, v := range l {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatInt(v, 10))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// readCheckpoint reads a checkpoint file; a missing file is no lines.
func readCheckpoint(path string, fieldsPerLine int) ([][]int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return checkpointLines(data, fieldsPerLine)
}

// cleanShutdown is what Close records in the clean-shutdown marker: enough
// to reopen without reading any segment, and to notice if the files
// changed since.
type cleanShutdown struct {
	logEndOffset  int64
	activeBase    int64
	activeLogSize int64
}

func (c cleanShutdown) encode() []byte {
	return formatCheckpoint([][]int64{{c.logEndOffset, c.activeBase, c.activeLogSize}})
}

func parseCleanShutdown(data []byte) (cleanShutdown, error) {
	lines, err := checkpointLines(data, 3)
	if err != nil {
		return cleanShutdown{}, err
	}
	if len(lines) != 1 {
		return cleanShutdown{}, errors.New("clean-shutdown marker: want one line")
	}
	return cleanShutdown{logEndOffset: lines[0][0], activeBase: lines[0][1], activeLogSize: lines[0][2]}, nil
}
