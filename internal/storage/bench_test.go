package storage

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchBatch is 16 records of 1 KiB: about 16.5 KiB of batch bytes.
func benchBatch() []byte { return makeBatch(16, 1024, 1_700_000_000_000, 7) }

func benchAppend(b *testing.B, cfg Config) {
	l := mustOpen(b, b.TempDir(), cfg)
	defer l.Close()
	batch := benchBatch()
	// Warm up: the index table grows to its working size.
	for i := 0; i < 1000; i++ {
		mustAppend(b, l, batch, leader(0))
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch, leader(0)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend: page-cache mode (flush.messages = MaxInt64).
func BenchmarkAppend(b *testing.B) {
	benchAppend(b, Config{FlushMessages: math.MaxInt64})
}

// BenchmarkAppendDurable: every append fsynced before it returns.
func BenchmarkAppendDurable(b *testing.B) {
	benchAppend(b, Config{FlushMessages: 1})
}

// BenchmarkAppendDurableParallel: concurrent durable appends share fsyncs
// (group commit). -cpu sets the number of appenders per GOMAXPROCS via
// SetParallelism(16).
func BenchmarkAppendDurableParallel(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Config{FlushMessages: 1})
	defer l.Close()
	b.SetBytes(int64(len(benchBatch())))
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := benchBatch()
		for pb.Next() {
			if _, err := l.Append(batch, leader(0)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRead: Read of up to 1 MiB from a 64 MiB log, as a fetch does.
// It returns file ranges, so the bytes/s figure is what a fetch could hand
// to sendfile, not a copy.
func BenchmarkRead(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Config{FlushMessages: math.MaxInt64, SegmentBytes: 16 << 20})
	defer l.Close()
	batch := benchBatch()
	for i := 0; i < (64<<20)/len(batch); i++ {
		mustAppend(b, l, batch, leader(0))
	}
	end := l.LogEndOffset()
	b.ReportAllocs()
	b.ResetTimer()
	var off, total int64
	for i := 0; i < b.N; i++ {
		sl, err := l.Read(off, 1<<20, end)
		if err != nil {
			b.Fatal(err)
		}
		total += sl.Size
		off += 16 * (sl.Size / int64(len(batch)))
		if off >= end {
			off = 0
		}
	}
	b.SetBytes(total / int64(b.N))
}

// The 10k-partition data directory is built once per process: building it
// is far slower than opening it.
var open10k struct {
	once sync.Once
	root string
	err  error
}

const benchPartitions = 10_000

func open10kRoot(b *testing.B) string {
	open10k.once.Do(func() {
		open10k.root, open10k.err = os.MkdirTemp("", "gregor-open10k-")
		if open10k.err != nil {
			return
		}
		cfg := Config{FlushMessages: math.MaxInt64}
		work := make(chan int)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range work {
					err := func() error {
						l, err := Open(filepath.Join(open10k.root, fmt.Sprintf("topic-%d", p)), cfg)
						if err != nil {
							return err
						}
						for i := 0; i < 3; i++ {
							if _, err := l.Append(makeBatch(2, 100, int64(i), byte(i)), leader(1)); err != nil {
								return err
							}
						}
						return l.Close()
					}()
					if err != nil {
						mu.Lock()
						open10k.err = err
						mu.Unlock()
					}
				}
			}()
		}
		for p := 0; p < benchPartitions; p++ {
			work <- p
		}
		close(work)
		wg.Wait()
	})
	if open10k.err != nil {
		b.Fatal(open10k.err)
	}
	return open10k.root
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func benchOpen10k(b *testing.B, unclean bool) {
	root := open10kRoot(b)
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		if unclean {
			names, _ := readDirNames(root)
			for _, n := range names {
				os.Remove(filepath.Join(root, n, cleanShutdownName))
			}
		}
		before := heapInUse()
		m, err := NewManager(root)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		b.StartTimer()
		names, err := m.OpenAll(func(string) Config { return Config{} })
		b.StopTimer()
		elapsed := time.Since(start)
		if err != nil || len(names) != benchPartitions {
			b.Fatalf("opened %d: %v", len(names), err)
		}
		after := heapInUse()
		b.ReportMetric(float64(elapsed.Milliseconds()), "ms/open-all")
		b.ReportMetric(float64(after-before)/benchPartitions, "heapB/partition")
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen10kPartitions opens a data directory of 10,000 small
// partitions after a clean shutdown. The directory is built on first use
// (slow: fsyncs) and reused; remove GREGOR's temp dirs if the run aborts.
func BenchmarkOpen10kPartitions(b *testing.B) { benchOpen10k(b, false) }

// BenchmarkOpen10kPartitionsUnclean is the same after a crash: no
// clean-shutdown markers, so every active segment is recovered.
func BenchmarkOpen10kPartitionsUnclean(b *testing.B) { benchOpen10k(b, true) }

func TestMain(m *testing.M) {
	code := m.Run()
	if open10k.root != "" {
		os.RemoveAll(open10k.root)
	}
	os.Exit(code)
}
