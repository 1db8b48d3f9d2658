// Package record owns Kafka's v2 record batch format (magic 2): parsing and
// validating batch headers, CRC32C, iterating records, and the compression
// codecs. Older formats (magic 0 and 1) are refused, as Kafka 4 does.
//
// A batch on the wire and on disk is the same bytes:
//
//	offset size field
//	     0    8 baseOffset            written by the leader on append
//	     8    4 batchLength           bytes after this field
//	    12    4 partitionLeaderEpoch  written by the leader on append
//	    16    1 magic                 must be 2
//	    17    4 crc                   CRC32C (Castagnoli) of bytes 21..end
//	    21    2 attributes            codec (bits 0-2), timestamp type (3),
//	                                  transactional (4), control (5)
//	    23    4 lastOffsetDelta
//	    27    8 baseTimestamp
//	    35    8 maxTimestamp
//	    43    8 producerId
//	    51    2 producerEpoch
//	    53    4 baseSequence
//	    57    4 recordCount
//	    61    … records (compressed as one block when codec != none)
//
// Because the CRC starts at attributes, the broker can assign baseOffset and
// partitionLeaderEpoch in place without touching the CRC or the records.
package record
