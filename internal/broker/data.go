package broker

import (
	"sync"

	"github.com/gregor-log/gregor/internal/partition"
)

// dataState is owned by the data path: producer ids (InitProducerId) and
// the read side's fetch sessions (fetchState).
type dataState struct {
	fetchState

	// producerIDs is opened on first use from the log directory, where it
	// keeps its reservation file; see partition.ProducerIDs.
	producerIDsOnce sync.Once
	producerIDsVal  *partition.ProducerIDs
	producerIDsErr  error
}

// producerIDs returns the broker's producer-id allocator.
func (b *Broker) producerIDs() (*partition.ProducerIDs, error) {
	b.producerIDsOnce.Do(func() {
		b.producerIDsVal, b.producerIDsErr = partition.OpenProducerIDs(b.cfg.LogDir())
	})
	return b.producerIDsVal, b.producerIDsErr
}
