package group

import "container/heap"

// timer is one deadline the coordinator keeps: a member's session, a
// group's join or sync barrier. Timers live in the coordinator's heap, so
// one Tick serves every group and member: there is no goroutine or runtime
// timer per group.
type timer struct {
	at    int64 // deadline, ms; meaningful only while scheduled
	index int   // position in the heap; -1 when not scheduled
	fire  func(now int64)
}

func newTimer(fire func(now int64)) *timer { return &timer{index: -1, fire: fire} }

// timerHeap is a min-heap of timers by deadline; each timer knows its index
// so that rescheduling and cancelling are O(log n).
type timerHeap []*timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// schedule sets t to fire at at, rescheduling it if it was pending.
func (h *timerHeap) schedule(t *timer, at int64) {
	t.at = at
	if t.index >= 0 {
		heap.Fix(h, t.index)
		return
	}
	heap.Push(h, t)
}

// cancel removes t if it is pending.
func (h *timerHeap) cancel(t *timer) {
	if t != nil && t.index >= 0 {
		heap.Remove(h, t.index)
	}
}

// popDue removes and returns the earliest timer due at now, or nil.
func (h *timerHeap) popDue(now int64) *timer {
	if len(*h) == 0 || (*h)[0].at > now {
		return nil
	}
	return heap.Pop(h).(*timer)
}

// next is the earliest deadline, or ok false when no timer is pending.
func (h timerHeap) next() (at int64, ok bool) {
	if len(h) == 0 {
		return 0, false
	}
	return h[0].at, true
}
