package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A format string describes records as text, for produce (parsing input)
// and consume (printing output). Directives:
//
//	%t  topic (consume only)        %p  partition
//	%o  offset (consume only)       %e  leader epoch (consume only)
//	%T  timestamp, Unix ms          %T{rfc3339}  timestamp as RFC 3339 (consume)
//	%k  key                         %v  value
//	%K  key length (consume)        %V  value length (consume)
//	%h{NAME}  value of header NAME  %h  all headers as k=v,k=v (consume)
//	%H  number of headers (consume) %%  a literal %
//
// and the escapes \n, \t, \r and \\. Everything else is literal text.
const formatHelp = `Format directives:
  %t  topic (consume)           %p  partition
  %o  offset (consume)          %e  leader epoch (consume)
  %T  timestamp in Unix ms      %T{rfc3339}  timestamp as RFC 3339 (consume)
  %k  key                       %v  value
  %K  key length (consume)      %V  value length (consume)
  %h{NAME}  value of header NAME
  %h  all headers as name=value,name=value (consume)
  %H  number of headers (consume)
  %%  a literal %               \n \t \r \\  escapes`

// directive is one % item of a format.
type directive byte

const (
	dirLiteral   directive = 0
	dirTopic     directive = 't'
	dirPartition directive = 'p'
	dirOffset    directive = 'o'
	dirEpoch     directive = 'e'
	dirTimestamp directive = 'T'
	dirKey       directive = 'k'
	dirValue     directive = 'v'
	dirKeyLen    directive = 'K'
	dirValueLen  directive = 'V'
	dirHeader    directive = 'h'
	dirHeaderNum directive = 'H'
)

// token is a literal run of text or one directive with its {argument}.
type token struct {
	dir     directive
	literal string // dirLiteral
	arg     string // %h{NAME}, %T{rfc3339}
}

// compileFormat parses a format string into tokens, merging adjacent
// literals. allowed lists the directives the caller understands.
func compileFormat(f string, allowed string) ([]token, error) {
	var toks []token
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{dir: dirLiteral, literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch c {
		case '\\':
			if i+1 == len(f) {
				return nil, fmt.Errorf("format %q: trailing backslash", f)
			}
			i++
			switch f[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				return nil, fmt.Errorf("format %q: unknown escape \\%c", f, f[i])
			}
		case '%':
			if i+1 == len(f) {
				return nil, fmt.Errorf("format %q: trailing %%", f)
			}
			i++
			d := f[i]
			if d == '%' {
				lit.WriteByte('%')
				continue
			}
			if !strings.ContainsRune(allowed, rune(d)) {
				return nil, fmt.Errorf("format %q: %%%c is not a directive here", f, d)
			}
			tok := token{dir: directive(d)}
			if i+1 < len(f) && f[i+1] == '{' {
				end := strings.IndexByte(f[i+1:], '}')
				if end < 0 {
					return nil, fmt.Errorf("format %q: unclosed {", f)
				}
				tok.arg = f[i+2 : i+1+end]
				i += 1 + end
			}
			switch {
			case tok.dir == dirHeader && tok.arg == "" && !strings.ContainsRune(allowed, rune(dirHeaderNum)):
				// Input formats cannot parse "all headers" back.
				return nil, fmt.Errorf("format %q: %%h needs a header name, as in %%h{trace-id}", f)
			case tok.dir == dirTimestamp && tok.arg != "" && tok.arg != "rfc3339":
				return nil, fmt.Errorf("format %q: %%T{%s}: only {rfc3339} is known", f, tok.arg)
			case tok.dir != dirHeader && tok.dir != dirTimestamp && tok.arg != "":
				return nil, fmt.Errorf("format %q: %%%c takes no {argument}", f, d)
			}
			flush()
			toks = append(toks, tok)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return toks, nil
}

// Output ---------------------------------------------------------------

const outputDirectives = "tpoeTkvKVhH"

// recordFormatter prints records with a compiled output format.
type recordFormatter struct {
	toks []token
	num  []byte // scratch for numbers
}

func newRecordFormatter(f string) (*recordFormatter, error) {
	toks, err := compileFormat(f, outputDirectives)
	if err != nil {
		return nil, err
	}
	return &recordFormatter{toks: toks}, nil
}

func (rf *recordFormatter) write(w *bufio.Writer, r *kgo.Record) {
	for _, t := range rf.toks {
		switch t.dir {
		case dirLiteral:
			w.WriteString(t.literal)
		case dirTopic:
			w.WriteString(r.Topic)
		case dirPartition:
			rf.int(w, int64(r.Partition))
		case dirOffset:
			rf.int(w, r.Offset)
		case dirEpoch:
			rf.int(w, int64(r.LeaderEpoch))
		case dirTimestamp:
			if t.arg == "rfc3339" {
				w.WriteString(r.Timestamp.UTC().Format(time.RFC3339Nano))
			} else {
				rf.int(w, r.Timestamp.UnixMilli())
			}
		case dirKey:
			w.Write(r.Key)
		case dirValue:
			w.Write(r.Value)
		case dirKeyLen:
			rf.int(w, nullableLen(r.Key))
		case dirValueLen:
			rf.int(w, nullableLen(r.Value))
		case dirHeaderNum:
			rf.int(w, int64(len(r.Headers)))
		case dirHeader:
			if t.arg != "" {
				for _, h := range r.Headers {
					if h.Key == t.arg {
						w.Write(h.Value)
						break
					}
				}
				continue
			}
			for i, h := range r.Headers {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(h.Key)
				w.WriteByte('=')
				w.Write(h.Value)
			}
		}
	}
}

func (rf *recordFormatter) int(w *bufio.Writer, n int64) {
	rf.num = strconv.AppendInt(rf.num[:0], n, 10)
	w.Write(rf.num)
}

// nullableLen is Kafka's length of a nullable byte string: -1 for null.
func nullableLen(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}

// Input ----------------------------------------------------------------

const inputDirectives = "pTkvh"

// errRecordTooLarge: a field of the input is longer than the limit.
var errRecordTooLarge = errors.New("record larger than --max-record-bytes")

// recordReader parses records from text with a compiled input format. Each
// directive reads up to the literal text that follows it (its delimiter),
// so two directives must be separated by some literal text; a format that
// ends with a directive gets an implicit "\n", one record per line.
type recordReader struct {
	toks     []token
	in       *bufio.Reader
	maxBytes int   // bound on the bytes of one record
	n        int64 // records read, for error messages
	buf      []byte
}

func newRecordReader(f string, in io.Reader, maxBytes int) (*recordReader, error) {
	toks, err := compileFormat(f, inputDirectives)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("format %q is empty", f)
	}
	for i, t := range toks {
		if t.dir != dirLiteral && i+1 < len(toks) && toks[i+1].dir != dirLiteral {
			return nil, fmt.Errorf("format %q: %%%c and %%%c need text between them to tell where one ends", f, t.dir, toks[i+1].dir)
		}
	}
	if toks[len(toks)-1].dir != dirLiteral {
		toks = append(toks, token{dir: dirLiteral, literal: "\n"})
	}
	return &recordReader{toks: toks, in: bufio.NewReaderSize(in, 64<<10), maxBytes: maxBytes}, nil
}

// next parses one record. It returns io.EOF at a clean end of input (no
// bytes of a new record), and an error naming the record otherwise.
func (rr *recordReader) next() (*kgo.Record, error) {
	if _, err := rr.in.Peek(1); err == io.EOF {
		return nil, io.EOF
	}
	rr.n++
	r := &kgo.Record{Partition: -1}
	budget := rr.maxBytes
	for i := 0; i < len(rr.toks); i++ {
		t := rr.toks[i]
		if t.dir == dirLiteral {
			if err := rr.expect(t.literal); err != nil {
				return nil, err
			}
			continue
		}
		delim := rr.toks[i+1].literal // a literal always follows a directive
		last := i+2 == len(rr.toks)
		field, err := rr.readUntil(delim, budget, last)
		if err != nil {
			return nil, err
		}
		budget -= len(field)
		i++ // the delimiter is consumed
		if err := rr.set(r, t, field); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// has reports whether the format has directive d.
func (rr *recordReader) has(d directive) bool {
	for _, t := range rr.toks {
		if t.dir == d {
			return true
		}
	}
	return false
}

func (rr *recordReader) expect(lit string) error {
	got := make([]byte, len(lit))
	n, err := io.ReadFull(rr.in, got)
	if err != nil || string(got) != lit {
		return fmt.Errorf("input record %d: expected %q, got %q", rr.n, lit, got[:n])
	}
	return nil
}

// readUntil reads up to and including delim and returns what precedes it
// (a fresh slice). At the end of input, the last field of a record may end
// without its delimiter: a file's last line without "\n".
func (rr *recordReader) readUntil(delim string, budget int, last bool) ([]byte, error) {
	rr.buf = rr.buf[:0]
	end := delim[len(delim)-1]
	for {
		chunk, err := rr.in.ReadSlice(end)
		rr.buf = append(rr.buf, chunk...)
		if len(rr.buf)-len(delim) > budget {
			return nil, fmt.Errorf("input record %d: %w", rr.n, errRecordTooLarge)
		}
		switch {
		case err == nil:
			if bytes.HasSuffix(rr.buf, []byte(delim)) {
				return bytes.Clone(rr.buf[:len(rr.buf)-len(delim)]), nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF && last && len(rr.buf) > budget:
			return nil, fmt.Errorf("input record %d: %w", rr.n, errRecordTooLarge)
		case err == io.EOF && last && len(rr.buf) > 0:
			return bytes.Clone(rr.buf), nil
		case err == io.EOF:
			return nil, fmt.Errorf("input record %d: input ends before %q", rr.n, delim)
		default:
			return nil, fmt.Errorf("input record %d: %w", rr.n, err)
		}
	}
}

func (rr *recordReader) set(r *kgo.Record, t token, field []byte) error {
	switch t.dir {
	case dirKey:
		if len(field) > 0 { // an empty key field means a null key
			r.Key = field
		}
	case dirValue:
		r.Value = field
	case dirHeader:
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: t.arg, Value: field})
	case dirPartition:
		p, err := strconv.ParseInt(string(field), 10, 32)
		if err != nil || p < 0 {
			return fmt.Errorf("input record %d: bad partition %q", rr.n, field)
		}
		r.Partition = int32(p)
	case dirTimestamp:
		ts, err := parseTimestamp(string(field))
		if err != nil {
			return fmt.Errorf("input record %d: %v", rr.n, err)
		}
		r.Timestamp = ts
	default:
		panic(fmt.Sprintf("cli: input directive %q not handled", t.dir)) // compileFormat let through a directive set does not know
	}
	return nil
}

// parseTimestamp reads Unix milliseconds or RFC 3339.
func parseTimestamp(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: want Unix milliseconds or RFC 3339", s)
	}
	return t, nil
}
