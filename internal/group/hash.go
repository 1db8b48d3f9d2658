package group

import "unicode/utf16"

// PartitionFor is the __consumer_offsets partition that holds group: Kafka's
// Utils.abs(groupId.hashCode()) % partitions, so a group lives in the same
// partition as on a Kafka cluster with the same partition count.
func PartitionFor(group string, partitions int32) int32 {
	if partitions <= 0 {
		panic("group: PartitionFor with no partitions")
	}
	h := javaStringHash(group)
	// Kafka's Utils.abs maps MinInt32 to 0 rather than overflowing.
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// javaStringHash is java.lang.String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over UTF-16 code units, wrapping at 32 bits. Go's []rune conversion turns
// invalid UTF-8 into U+FFFD, as Java's decoder does with a malformed sequence.
func javaStringHash(s string) int32 {
	var h int32
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(s); i++ {
			h = 31*h + int32(s[i])
		}
		return h
	}
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}
