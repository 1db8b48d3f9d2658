package broker

// The Fetch response is encoded here by hand rather than by kmsg, because
// its record fields are not in memory: each is a range of a segment file
// that the connection sends with sendfile. Everything around the records is
// appended to one buffer; the Spliced body is that buffer cut at each
// records field, with the file range in between.
//
// Layout (versions 4..16; the version where a field appears in brackets;
// "flexible" is v12+, where arrays, strings and bytes carry uvarint
// length+1 and every struct ends with tagged fields):
//
//	throttle_ms int32 | error_code int16 [7] | session_id int32 [7]
//	topics array:
//	  topic string [..12] or topic_id uuid [13]
//	  partitions array:
//	    partition int32 | error_code int16 | high_watermark int64
//	    last_stable_offset int64 | log_start_offset int64 [5]
//	    aborted_transactions nullable array
//	    preferred_read_replica int32 [11]
//	    records nullable bytes: length prefix, then the file range
//	    tagged fields [12]: 0 = diverging_epoch {epoch int32, end_offset int64},
//	      1 = current_leader {leader_id int32, leader_epoch int32}
//	  tagged fields [12]
//	tagged fields [12]: 0 = node_endpoints [16] array of
//	  {node_id int32, host string, port int32, rack nullable string}

import (
	"github.com/gregor-log/gregor/internal/wire"
	"github.com/twmb/franz-go/pkg/kbin"
)

// fetchResponse is a Fetch response before encoding.
type fetchResponse struct {
	version       int16
	errorCode     int16
	sessionID     int32
	readCommitted bool
	results       []fetchResult // grouped into topics by consecutive runs
	// nodeEndpoints are the brokers the results' leader hints name (v16+).
	nodeEndpoints []hintEndpoint
}

// spliced encodes the response.
func (r *fetchResponse) spliced() *wire.Spliced {
	flexible := r.version >= 12
	out := &wire.Spliced{Flexible: flexible}
	buf := make([]byte, 0, r.sizeHint())
	cut := 0                       // start of the bytes not yet in a part
	buf = kbin.AppendInt32(buf, 0) // throttle_ms
	if r.version >= 7 {
		buf = kbin.AppendInt16(buf, r.errorCode)
		buf = kbin.AppendInt32(buf, r.sessionID)
	}
	buf = appendArrayLen(buf, flexible, r.topicCount())
	for i := 0; i < len(r.results); {
		j := i + 1
		for j < len(r.results) && r.sameTopic(i, j) {
			j++
		}
		if r.version >= 13 {
			buf = kbin.AppendUuid(buf, r.results[i].topicID)
		} else if flexible {
			buf = kbin.AppendCompactString(buf, r.results[i].topic)
		} else {
			buf = kbin.AppendString(buf, r.results[i].topic)
		}
		buf = appendArrayLen(buf, flexible, j-i)
		for k := i; k < j; k++ {
			res := &r.results[k]
			buf = r.appendPartitionHead(buf, res)
			if res.records.Size > 0 {
				// Later appends never write below len(buf), so the part
				// stays intact even when they reallocate buf.
				out.Parts = append(out.Parts, wire.Part{Bytes: buf[cut:len(buf):len(buf)]}, wire.Part{Slice: res.records})
				cut = len(buf)
			}
			if flexible {
				buf = appendPartitionTags(buf, res)
			}
		}
		if flexible {
			buf = kbin.AppendUvarint(buf, 0) // topic tagged fields
		}
		i = j
	}
	if flexible {
		buf = r.appendResponseTags(buf)
	}
	out.Parts = append(out.Parts, wire.Part{Bytes: buf[cut:]})
	return out
}

// sizeHint is about the encoded size without records, so that buf is
// allocated once.
func (r *fetchResponse) sizeHint() int {
	n := 32
	for i := range r.results {
		n += 64 + len(r.results[i].topic)
	}
	return n
}

func (r *fetchResponse) sameTopic(i, j int) bool {
	if r.version >= 13 {
		return r.results[i].topicID == r.results[j].topicID
	}
	return r.results[i].topic == r.results[j].topic
}

func (r *fetchResponse) topicCount() int {
	n := 0
	for i := range r.results {
		if i == 0 || !r.sameTopic(i-1, i) {
			n++
		}
	}
	return n
}

// appendPartitionHead appends a partition's fields up to and including the
// records length prefix.
func (r *fetchResponse) appendPartitionHead(buf []byte, res *fetchResult) []byte {
	flexible := r.version >= 12
	buf = kbin.AppendInt32(buf, res.partition)
	buf = kbin.AppendInt16(buf, res.errorCode)
	buf = kbin.AppendInt64(buf, res.highWatermark)
	buf = kbin.AppendInt64(buf, res.lastStableOffset) // v4+, and versions start at 4
	if r.version >= 5 {
		buf = kbin.AppendInt64(buf, res.logStartOffset)
	}
	// aborted_transactions: none until transactions exist. Kafka sends an
	// empty list to READ_COMMITTED fetchers and null to others.
	abortedNull := !r.readCommitted || res.errorCode != 0
	if flexible {
		buf = kbin.AppendCompactNullableArrayLen(buf, 0, abortedNull)
	} else {
		buf = kbin.AppendNullableArrayLen(buf, 0, abortedNull)
	}
	if r.version >= 11 {
		buf = kbin.AppendInt32(buf, -1) // preferred_read_replica: none
	}
	// records: never null; the bytes follow as a separate part.
	n := res.records.Size
	if flexible {
		buf = kbin.AppendUvarint(buf, uint32(n+1))
	} else {
		buf = kbin.AppendInt32(buf, int32(n))
	}
	return buf
}

// appendPartitionTags appends a partition's tagged fields, in ascending
// tag order as the protocol requires.
func appendPartitionTags(buf []byte, res *fetchResult) []byte {
	n := 0
	if res.diverging {
		n++
	}
	if res.hasCurrentLeader {
		n++
	}
	buf = kbin.AppendUvarint(buf, uint32(n))
	if res.diverging {
		buf = kbin.AppendUvarint(buf, 0)  // tag 0: diverging_epoch
		buf = kbin.AppendUvarint(buf, 13) // its size: 4 + 8 + 1
		buf = kbin.AppendInt32(buf, res.divergingEpoch)
		buf = kbin.AppendInt64(buf, res.divergingEndOffset)
		buf = kbin.AppendUvarint(buf, 0) // its own tagged fields
	}
	if res.hasCurrentLeader {
		buf = kbin.AppendUvarint(buf, 1) // tag 1: current_leader
		buf = kbin.AppendUvarint(buf, 9) // its size: 4 + 4 + 1
		buf = kbin.AppendInt32(buf, res.currentLeader.leaderID)
		buf = kbin.AppendInt32(buf, res.currentLeader.leaderEpoch)
		buf = kbin.AppendUvarint(buf, 0) // its own tagged fields
	}
	return buf
}

// appendResponseTags appends the response's tagged fields: node_endpoints
// (tag 0, v16+) when a leader hint named a broker.
func (r *fetchResponse) appendResponseTags(buf []byte) []byte {
	if r.version < 16 || len(r.nodeEndpoints) == 0 {
		return kbin.AppendUvarint(buf, 0)
	}
	var field []byte
	field = kbin.AppendCompactArrayLen(field, len(r.nodeEndpoints))
	for _, e := range r.nodeEndpoints {
		field = kbin.AppendInt32(field, e.nodeID)
		field = kbin.AppendCompactString(field, e.host)
		field = kbin.AppendInt32(field, e.port)
		field = kbin.AppendCompactNullableString(field, e.rack)
		field = kbin.AppendUvarint(field, 0) // the broker's tagged fields
	}
	buf = kbin.AppendUvarint(buf, 1) // one tagged field
	buf = kbin.AppendUvarint(buf, 0) // tag 0: node_endpoints
	buf = kbin.AppendUvarint(buf, uint32(len(field)))
	return append(buf, field...)
}

func appendArrayLen(buf []byte, flexible bool, n int) []byte {
	if flexible {
		return kbin.AppendCompactArrayLen(buf, n)
	}
	return kbin.AppendArrayLen(buf, n)
}
