package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const offsetHelp = `Offsets (-o):
  start          the LogStartOffset (the default)
  end            the HighWatermark: only records produced from now on
  +N             N records after the start
  -N             N records before the end
  N              exactly offset N
  @T             the first record with a timestamp >= T; T is Unix ms,
                 RFC 3339 (2024-05-01T12:00:00Z) or a duration before now (-1h)
  FROM:UNTIL     from FROM up to (not including) UNTIL, then stop; FROM and
                 UNTIL are any of the above, an empty FROM means start, and
                 UNTIL "end" means the HighWatermark when consuming starts
Out-of-range offsets are clamped to [LogStartOffset, HighWatermark].`

// offsetKind is what an offset point is relative to.
type offsetKind int

const (
	offsetFromStart offsetKind = iota // LogStartOffset + delta
	offsetFromEnd                     // HighWatermark + delta (delta <= 0)
	offsetExact                       // value
	offsetAtTime                      // first offset with timestamp >= value (Unix ms)
)

// offsetPoint is one position in every partition, resolved per partition
// once its LogStartOffset and HighWatermark are known.
type offsetPoint struct {
	kind  offsetKind
	delta int64 // offsetFromStart, offsetFromEnd
	value int64 // offsetExact: the offset; offsetAtTime: Unix ms
}

// offsetRange is a parsed -o: where to start and, optionally, where to stop
// (exclusive).
type offsetRange struct {
	from  offsetPoint
	until *offsetPoint // nil: follow new records until interrupted
}

// parseOffsetRange parses a -o value; now anchors relative times.
func parseOffsetRange(s string, now time.Time) (offsetRange, error) {
	if p, err := parseOffsetPoint(s, now); err == nil {
		return offsetRange{from: p}, nil
	}
	// RFC 3339 times contain ':' too, so try each ':' as the separator
	// until both sides parse.
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		left, right := s[:i], s[i+1:]
		from := offsetPoint{kind: offsetFromStart}
		if left != "" {
			p, err := parseOffsetPoint(left, now)
			if err != nil {
				continue
			}
			from = p
		}
		if right == "" {
			return offsetRange{from: from}, nil
		}
		until, err := parseOffsetPoint(right, now)
		if err != nil {
			continue
		}
		return offsetRange{from: from, until: &until}, nil
	}
	return offsetRange{}, fmt.Errorf("bad offset %q: want start, end, +N, -N, N, @TIME or FROM:UNTIL", s)
}

func parseOffsetPoint(s string, now time.Time) (offsetPoint, error) {
	switch s {
	case "start", "oldest", "earliest":
		return offsetPoint{kind: offsetFromStart}, nil
	case "end", "newest", "latest":
		return offsetPoint{kind: offsetFromEnd}, nil
	case "":
		return offsetPoint{}, fmt.Errorf("empty offset")
	}
	if strings.HasPrefix(s, "@") {
		ms, err := parseTimeSpec(s[1:], now)
		if err != nil {
			return offsetPoint{}, err
		}
		return offsetPoint{kind: offsetAtTime, value: ms}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return offsetPoint{}, fmt.Errorf("bad offset %q", s)
	}
	switch {
	case s[0] == '+':
		return offsetPoint{kind: offsetFromStart, delta: n}, nil
	case s[0] == '-':
		return offsetPoint{kind: offsetFromEnd, delta: n}, nil
	}
	return offsetPoint{kind: offsetExact, value: n}, nil
}

// parseTimeSpec reads Unix milliseconds, RFC 3339, or a signed duration
// relative to now ("-1h30m").
func parseTimeSpec(s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty time after @")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	if s[0] == '-' || s[0] == '+' {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("bad relative time %q: %v", s, err)
		}
		return now.Add(d).UnixMilli(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("bad time %q: want Unix ms, RFC 3339 or -DURATION", s)
	}
	return t.UnixMilli(), nil
}

// partitionOffsets is what resolving an offsetPoint needs to know about a
// partition. atTime is the answer of ListOffsets for the point's time, or
// -1 when the point is not a time.
type partitionOffsets struct {
	logStart, highWatermark int64
	atTime                  int64
}

// resolve turns the point into an offset of one partition, clamped to
// [LogStartOffset, HighWatermark].
func (p offsetPoint) resolve(po partitionOffsets) int64 {
	var o int64
	size := po.highWatermark - po.logStart
	switch p.kind {
	case offsetFromStart:
		o = po.logStart + min(p.delta, size) // min: no overflow for huge N
	case offsetFromEnd:
		o = po.highWatermark + max(p.delta, -size)
	case offsetExact:
		o = p.value
	case offsetAtTime:
		o = po.atTime
		if o < 0 { // no record at or after the time
			o = po.highWatermark
		}
	}
	return min(max(o, po.logStart), po.highWatermark)
}
