package wire

import "github.com/gregor-log/gregor/internal/storage"

// Spliced is a response body that is not held in memory as one buffer: it
// is a sequence of encoded byte pieces and file ranges. The connection
// writes the frame length and response header first, then each part in
// order, sending file ranges with sendfile on plaintext TCP so record bytes
// never pass through Go memory (Kafka's zero-copy fetch). The Fetch handler
// builds it; everything else returns an ordinary kmsg.Response.
type Spliced struct {
	Flexible bool   // response header v1 (tagged fields) instead of v0
	Parts    []Part // in order
}

// Part is either Bytes (already encoded) or a Slice of a segment file.
type Part struct {
	Bytes []byte
	Slice storage.Slice
}

// Len is the body's size in bytes.
func (s *Spliced) Len() int64 {
	var n int64
	for _, p := range s.Parts {
		n += int64(len(p.Bytes)) + p.Slice.Size
	}
	return n
}
