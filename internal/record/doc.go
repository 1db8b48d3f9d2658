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
//
// The records block is recordCount records, compressed together as one
// stream when the codec is not none. Each record is:
//
//	length          varint   bytes after this field
//	attributes      int8     unused
//	timestampDelta  varlong  from baseTimestamp
//	offsetDelta     varint   from baseOffset; 0, 1, 2, … as clients write
//	key             varint length (-1 = null), bytes
//	value           varint length (-1 = null), bytes
//	headers         varint count, then per header:
//	                  key varint length (never null), bytes
//	                  value varint length (-1 = null), bytes
//
// varint and varlong are zig-zag encoded, at most 5 and 10 bytes.
//
// What the package offers, and its contract:
//
//   - ReadHeader, Validate and NextBatch read headers and split and check
//     batches without allocating; BatchIter walks batches back to back.
//   - RecordIter walks one batch's records; for an uncompressed batch it
//     does not allocate and keys and values alias the batch.
//   - Decompress and Compress handle every codec Kafka defines. Output is
//     bounded by the caller's limit whatever the input claims
//     (ErrTooLarge), so a decompression bomb costs at most that much memory.
//   - CheckProduce applies the checks Kafka's leader makes on a produced
//     batch; Builder writes batches (tests, control markers, compaction).
//
// Bytes from the network or disk never make this package panic: every
// failure is an error wrapping ErrShort, ErrUnsupportedMagic, ErrCorrupt
// (ErrUnsupportedCodec, ErrInvalidRecord) or ErrTooLarge.
package record
