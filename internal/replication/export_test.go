package replication

// The internal tests' helpers, shared with the external e2e test.
var (
	TestPartitionConfig = testPartitionConfig
	WaitUntil           = waitUntil
	SegmentBytes        = segmentBytes
)
