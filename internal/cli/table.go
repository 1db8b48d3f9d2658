package cli

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table writes aligned columns: a header row in capitals, then rows.
type table struct {
	out io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{out: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 8, 2, ' ', 0)
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

func (t *table) row(cols ...string) {
	// Tabs and newlines in cells (a hostile topic config value, say) would
	// break the alignment of every later row.
	for i, c := range cols {
		cols[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

// flush writes the table, without the padding tabwriter leaves after the
// last non-empty cell of a line.
func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(t.buf.String(), "\n")
	var out strings.Builder
	for _, l := range lines {
		if strings.HasSuffix(l, "\n") {
			out.WriteString(strings.TrimRight(l[:len(l)-1], " "))
			out.WriteByte('\n')
		} else {
			out.WriteString(l)
		}
	}
	t.buf.Reset()
	_, err := io.WriteString(t.out, out.String())
	return err
}

func int32sString(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
