package metadata

import (
	"crypto/rand"
	"encoding/base64"
)

// NewTopicID returns a random version-4 UUID that is neither the zero id
// nor Kafka's reserved metadata topic id (1), as Kafka's Uuid.randomUuid.
func NewTopicID() TopicID {
	for {
		var id TopicID
		rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40 // version 4
		id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
		if id != (TopicID{}) && id != (TopicID{15: 1}) {
			return id
		}
	}
}

// String prints the id as Kafka does: URL-safe base64 without padding.
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// NewClusterID returns a random cluster id in Kafka's format (a UUID in
// URL-safe base64, 22 characters), avoiding a leading '-' which command
// lines would take for a flag.
func NewClusterID() string {
	for {
		s := NewTopicID().String()
		if s[0] != '-' {
			return s
		}
	}
}

// ParseTopicID parses an id printed by TopicID.String.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return id, err
	}
	if len(raw) != len(id) {
		return id, base64.CorruptInputError(len(raw))
	}
	copy(id[:], raw)
	return id, nil
}
