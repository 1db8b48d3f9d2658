// Package wire owns the Kafka protocol's framing on a TCP connection: the
// size-prefixed frames, request and response headers (flexible or not),
// decoding request bodies with kmsg, the bound on request size, answering
// pipelined requests in order, and writing Spliced responses with sendfile.
// It knows nothing of topics or logs; it hands decoded requests to a Handler.
//
// Per connection a Server runs two goroutines. The reader reads frames
// (refusing one above MaxRequestBytes before buffering it), decodes them
// and queues them; it may run ahead of the handler by ReadAhead requests
// and MaxRequestBytes bytes. The processor hands each request to the
// Handler and writes its response before taking the next, so responses
// leave in request order, as Kafka answers them.
//
// What closes a connection (and only that one): a frame too large or
// malformed, an unknown API key, a version outside the Handler's range
// (except ApiVersions, answered with UNSUPPORTED_VERSION in the v0 format
// so that the client can retry with a version we list), a Handler error,
// and a panic in the Handler or decoder, which is logged with its stack.
// Requests already queued before a bad frame are still answered.
package wire
