// Package wire owns the Kafka protocol's framing on a TCP connection: the
// size-prefixed frames, request and response headers (flexible or not),
// decoding request bodies with kmsg, the bound on request size, answering
// pipelined requests in order, and writing Spliced responses with sendfile.
// It knows nothing of topics or logs; it hands decoded requests to a Handler.
package wire
