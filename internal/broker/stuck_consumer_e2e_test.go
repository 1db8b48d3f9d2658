package broker_test

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gregor-log/gregor/internal/testbroker"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStuckConsumerBlocksNobody: connections that send fetches for
// megabytes and never read their socket fill their own buffers and stall
// alone; producers and other consumers on other connections go on.
func TestStuckConsumerBlocksNobody(t *testing.T) {
	b := testbroker.Start(t, nil)
	feTopic(t, b, "busy", 1)
	ctx := feCtx(t)
	prod := b.Client(t, kgo.DefaultProduceTopic("busy"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	big := []byte(strings.Repeat("x", 200_000))
	for range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: big}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// Fetch v4 for the whole partition, framed by hand: these
	// connections must never read a byte of their answers.
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 4, -1, 50<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "busy"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 50 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	body := req.AppendTo(nil)
	frame := func(correlationID int32) []byte {
		h := binary.BigEndian.AppendUint16(nil, uint16(kmsg.Fetch))
		h = binary.BigEndian.AppendUint16(h, 4)
		h = binary.BigEndian.AppendUint32(h, uint32(correlationID))
		h = binary.BigEndian.AppendUint16(h, uint16(len("stuck")))
		h = append(h, "stuck"...)
		h = append(h, body...)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(h))), h...)
	}
	for range 4 {
		conn := b.Dial(t)
		conn.(*net.TCPConn).SetReadBuffer(4096)
		// Write until the broker stops reading this connection: its
		// answers are not read, so its bounded read-ahead fills and
		// then the socket buffers do. The deadline only detects that.
		for id := int32(0); ; id++ {
			if id > 1_000_000 {
				t.Fatal("the broker kept reading requests whose answers are never read: its read-ahead is unbounded")
			}
			conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := conn.Write(frame(id)); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("stuck connection: %v", err)
				}
				break
			}
		}
	}

	// Everyone else carries on.
	for range 20 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("small")}).FirstErr(); err != nil {
			t.Fatalf("produce next to stuck consumers: %v", err)
		}
	}
	cons := b.Client(t, kgo.ConsumeTopics("busy"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if got := feConsume(t, cons, 30); len(got) < 30 {
		t.Fatalf("consumed %d records next to stuck consumers", len(got))
	}
}
