package partition

// Contract between the broker's topic registry and the data path. The
// bodies are placeholders until the data path lands.

import (
	"errors"

	"github.com/gregor-log/gregor/internal/storage"
)

// Partition is one replica of one partition on this broker.
type Partition struct {
	Topic string
	Index int32
	Log   *storage.Log
}

// Open opens the partition's log in dir (created if missing).
func Open(dir, topic string, index int32, cfg storage.Config) (*Partition, error) {
	return nil, errors.New("partition: not implemented")
}

// Close closes the partition's files; parked requests are woken with an error.
func (p *Partition) Close() error { return nil }

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error { return nil }

// SetConfig applies changed topic configs to the open log.
func (p *Partition) SetConfig(cfg storage.Config) {}
