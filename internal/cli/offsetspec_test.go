package cli

import (
	"testing"
	"time"
)

func TestParseOffsetRange(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	pt := func(k offsetKind, delta, value int64) offsetPoint {
		return offsetPoint{kind: k, delta: delta, value: value}
	}
	until := func(p offsetPoint) *offsetPoint { return &p }
	start, end := pt(offsetFromStart, 0, 0), pt(offsetFromEnd, 0, 0)
	for _, tc := range []struct {
		in   string
		want offsetRange
	}{
		{"start", offsetRange{from: start}},
		{"oldest", offsetRange{from: start}},
		{"end", offsetRange{from: end}},
		{"+5", offsetRange{from: pt(offsetFromStart, 5, 0)}},
		{"-5", offsetRange{from: pt(offsetFromEnd, -5, 0)}},
		{"42", offsetRange{from: pt(offsetExact, 0, 42)}},
		{"@1600000000000", offsetRange{from: pt(offsetAtTime, 0, 1_600_000_000_000)}},
		{"@-1h", offsetRange{from: pt(offsetAtTime, 0, 1_700_000_000_000-3_600_000)}},
		{"@2023-11-14T22:13:20Z", offsetRange{from: pt(offsetAtTime, 0, 1_700_000_000_000)}},
		{"10:20", offsetRange{from: pt(offsetExact, 0, 10), until: until(pt(offsetExact, 0, 20))}},
		{":20", offsetRange{from: start, until: until(pt(offsetExact, 0, 20))}},
		{"10:", offsetRange{from: pt(offsetExact, 0, 10)}},
		{"start:end", offsetRange{from: start, until: until(end)}},
		{"-3:end", offsetRange{from: pt(offsetFromEnd, -3, 0), until: until(end)}},
		{"@2023-11-14T22:13:20Z:@2023-11-14T22:13:21Z", offsetRange{
			from:  pt(offsetAtTime, 0, 1_700_000_000_000),
			until: until(pt(offsetAtTime, 0, 1_700_000_001_000)),
		}},
		{"@-2h:@-1h", offsetRange{
			from:  pt(offsetAtTime, 0, 1_700_000_000_000-7_200_000),
			until: until(pt(offsetAtTime, 0, 1_700_000_000_000-3_600_000)),
		}},
	} {
		got, err := parseOffsetRange(tc.in, now)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.from != tc.want.from || (got.until == nil) != (tc.want.until == nil) ||
			(got.until != nil && *got.until != *tc.want.until) {
			t.Errorf("%q: got %+v until %v, want %+v until %v", tc.in, got.from, got.until, tc.want.from, tc.want.until)
		}
	}
	for _, bad := range []string{"", "begin", "+", "@", "@yesterday", "1:2:3", "::", "@-1x", "1.5"} {
		if _, err := parseOffsetRange(bad, now); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestOffsetPointResolve(t *testing.T) {
	po := partitionOffsets{logStart: 100, highWatermark: 200, atTime: 150}
	for _, tc := range []struct {
		p    offsetPoint
		po   partitionOffsets
		want int64
	}{
		{offsetPoint{kind: offsetFromStart}, po, 100},
		{offsetPoint{kind: offsetFromStart, delta: 10}, po, 110},
		{offsetPoint{kind: offsetFromStart, delta: 1 << 62}, po, 200},
		{offsetPoint{kind: offsetFromEnd}, po, 200},
		{offsetPoint{kind: offsetFromEnd, delta: -10}, po, 190},
		{offsetPoint{kind: offsetFromEnd, delta: -1 << 62}, po, 100},
		{offsetPoint{kind: offsetExact, value: 150}, po, 150},
		{offsetPoint{kind: offsetExact, value: 5}, po, 100},
		{offsetPoint{kind: offsetExact, value: 500}, po, 200},
		{offsetPoint{kind: offsetAtTime, value: 1}, po, 150},
		{offsetPoint{kind: offsetAtTime, value: 1}, partitionOffsets{logStart: 100, highWatermark: 200, atTime: -1}, 200},
	} {
		if got := tc.p.resolve(tc.po); got != tc.want {
			t.Errorf("%+v on %+v: got %d, want %d", tc.p, tc.po, got, tc.want)
		}
	}
}
