package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestManager(t *testing.T) {
	root := t.TempDir()
	m, err := NewManager(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{FlushMessages: 1 << 40, FlushMs: time.Millisecond}
	for i := 0; i < 20; i++ {
		l, err := m.Open(fmt.Sprintf("topic-%d", i), cfg)
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, makeBatch(i+1, 10, 0, 0), leader(0))
	}
	if _, err := m.Open("../escape", cfg); err == nil {
		t.Fatal("accepted a name outside the root")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for _, name := range m.Names() {
		l := m.Get(name)
		for l.FlushedOffset() != l.LogEndOffset() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never flushed by the ticker", name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	<-done
	if err := m.Delete("topic-3"); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2, _ := NewManager(root)
	names, err := m2.OpenAll(func(string) Config { return cfg })
	if err != nil || len(names) != 19 {
		t.Fatalf("OpenAll: %d logs, %v", len(names), err)
	}
	if l := m2.Get("topic-7"); l == nil || l.LogEndOffset() != 8 {
		t.Fatalf("topic-7 after reopen: %+v", l)
	}
	m2.Close()
}
