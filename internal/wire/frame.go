package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors that close a connection. They are never answered: Kafka closes
// the connection on requests it cannot parse, and clients treat that as a
// retriable network error.
var (
	ErrMalformed          = errors.New("wire: malformed request")
	ErrRequestTooLarge    = errors.New("wire: request larger than socket.request.max.bytes")
	ErrUnknownAPI         = errors.New("wire: unknown API key")
	ErrUnsupportedVersion = errors.New("wire: unsupported API version")
)

// APIRange is one API key with the versions the handler implements.
type APIRange struct {
	Key        int16
	MinVersion int16
	MaxVersion int16
}

// apiVersionsKey is ApiVersions, the one API whose unsupported versions
// are answered (with a v0 body listing our versions) rather than refused,
// so that a newer client can fall back (KIP-511).
const apiVersionsKey = int16(kmsg.ApiVersions)

// unsupportedVersionCode is Kafka's UNSUPPORTED_VERSION error code.
const unsupportedVersionCode = 35

// decoded is what the reader hands to the processor: a request to handle,
// or a ready answer (the ApiVersions fallback).
type decoded struct {
	req      *Request
	answer   kmsg.Response
	size     int64     // frame bytes, held against the read-ahead budget
	received time.Time // when the frame was read, for latency metrics
}

// decodeFrame parses one frame (without its size prefix): the request
// header (v1, or v2 with tagged fields when the body's version is
// flexible) and the body at that version. apis bounds what is decoded: an
// unknown key or version is refused before the body is touched.
func decodeFrame(frame []byte, apis map[int16]APIRange) (decoded, error) {
	if len(frame) < 8 {
		return decoded{}, fmt.Errorf("%w: %d byte frame is shorter than a request header", ErrMalformed, len(frame))
	}
	key := int16(binary.BigEndian.Uint16(frame[0:]))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	corr := int32(binary.BigEndian.Uint32(frame[4:]))
	r, ok := apis[key]
	if !ok {
		return decoded{}, fmt.Errorf("%w %d", ErrUnknownAPI, key)
	}
	body := kmsg.RequestForKey(key)
	if body == nil {
		return decoded{}, fmt.Errorf("%w %d (no codec)", ErrUnknownAPI, key)
	}
	if version < r.MinVersion || version > r.MaxVersion || version > body.MaxVersion() {
		if key == apiVersionsKey {
			return decoded{req: &Request{Key: key, Version: 0, CorrelationID: corr}, answer: apiVersionsFallback(apis)}, nil
		}
		return decoded{}, fmt.Errorf("%w: %s v%d (supported v%d-v%d)", ErrUnsupportedVersion, kmsg.Key(key).Name(), version, r.MinVersion, r.MaxVersion)
	}
	body.SetVersion(version)

	rest := frame[8:]
	// The client id is a classic nullable string even in header v2: old
	// brokers must be able to read the header of any ApiVersions request.
	if len(rest) < 2 {
		return decoded{}, fmt.Errorf("%w: truncated client id", ErrMalformed)
	}
	var clientID *string
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < 0 || int(n) > len(rest):
		return decoded{}, fmt.Errorf("%w: bad client id length %d", ErrMalformed, n)
	default:
		s := string(rest[:n])
		clientID = &s
		rest = rest[n:]
	}
	if body.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return decoded{}, err
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return decoded{}, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.Key(key).Name(), version, err)
	}
	return decoded{req: &Request{Key: key, Version: version, CorrelationID: corr, ClientID: clientID, Body: body}}, nil
}

// skipTags skips a tagged-field section (KIP-482): a count, then for each
// field its tag, size and bytes. The request header defines no tags we
// use, so they are dropped.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad tagged field count", ErrMalformed)
	}
	b = b[n:]
	for range count {
		_, n := binary.Uvarint(b) // tag
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", ErrMalformed)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tagged field size", ErrMalformed)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// apiVersionsFallback is the answer to an ApiVersions request at a version
// we do not implement: UNSUPPORTED_VERSION in the v0 body format, listing
// our versions, so the client can retry with one of them.
func apiVersionsFallback(apis map[int16]APIRange) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = unsupportedVersionCode
	for _, r := range sortedAPIs(apis) {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = r.Key, r.MinVersion, r.MaxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

// responseHeader appends the frame's size placeholder and the response
// header: the correlation id, plus an empty tagged-field section (header
// v1) when the response is flexible, except for ApiVersions, whose
// response header is always v0 so that a client can read it before it
// knows which versions we speak.
func responseHeader(dst []byte, key int16, corr int32, flexible bool) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if flexible && key != apiVersionsKey {
		dst = append(dst, 0)
	}
	return dst
}

// encodeResponse encodes a whole response frame, size prefix included.
func encodeResponse(dst []byte, req *Request, resp kmsg.Response) []byte {
	resp.SetVersion(req.Version)
	frameStart := len(dst)
	dst = responseHeader(dst, req.Key, req.CorrelationID, resp.IsFlexible())
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[frameStart:], uint32(len(dst)-frameStart-4))
	return dst
}
