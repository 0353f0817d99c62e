package engine

import (
	"cmp"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// watchEvery is how often the watchdog samples elapsed times and the heap.
const watchEvery = 50 * time.Millisecond

// heapMetric counts the bytes of heap objects, live or not yet collected: what the process holds.
const heapMetric = "/memory/classes/heap/objects:bytes"

// watchdog enforces a Budget (see budget.go): it knows which evaluations are in flight and since when.
type watchdog struct {
	e      *Engine
	budget *Budget
	quit   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	inFlight []*watched
	// pending are the clusters not finished, by name (the shared definitions as "").
	pending map[string]bool
	// nextGC is when the loop may force a collection again.
	nextGC time.Time
}

// watched is one evaluation in flight.
type watched struct {
	unit  Unit
	start time.Time
	// state: running, then done (by the evaluation) or stopping and stopped (by the watchdog),
	// whichever comes first.
	state  atomic.Int32
	over   chan struct{} // closed at done or stopped
	reason string        // why it was stopped, set before stopped
}

const (
	running int32 = iota
	done
	stopping // reason being written
	stopped
)

// newWatchdog starts watching the evaluation of the shared definitions and clusters; nil when the
// budget bounds nothing.
func (e *Engine) newWatchdog() *watchdog {
	b := &e.opts.Budget
	if b.Timeout <= 0 && b.Memory == 0 {
		return nil
	}
	w := &watchdog{e: e, budget: b, quit: make(chan struct{}), pending: map[string]bool{"": true}}
	for _, c := range e.repo.Clusters {
		w.pending[c.Name] = true
	}
	w.wg.Add(1)
	go w.loop()
	return w
}

// close stops the watchdog.
func (w *watchdog) close() {
	if w == nil {
		return
	}
	close(w.quit)
	w.wg.Wait()
}

// finished records a unit as done without evaluating it (a failure known from an earlier run).
func (w *watchdog) finished(name string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	delete(w.pending, name)
	w.mu.Unlock()
}

// run evaluates fn as unit name under the budget. It returns "" when fn finished, or why it was
// stopped; a stopped fn runs on unobserved (its results must go nowhere the caller reads).
func (w *watchdog) run(name string, fn func()) string {
	if w == nil {
		fn()
		return ""
	}
	u := &watched{unit: Unit{Name: name, e: w.e}, start: time.Now(), over: make(chan struct{})}
	w.mu.Lock()
	w.inFlight = append(w.inFlight, u)
	w.mu.Unlock()
	go func() {
		fn()
		if u.state.CompareAndSwap(running, done) {
			close(u.over)
		}
	}()
	<-u.over
	w.mu.Lock()
	w.inFlight = slices.DeleteFunc(w.inFlight, func(x *watched) bool { return x == u })
	delete(w.pending, name)
	w.mu.Unlock()
	if u.state.Load() == stopped {
		return u.reason
	}
	return ""
}

func (w *watchdog) loop() {
	defer w.wg.Done()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: heapMetric}}
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
		w.mu.Lock()
		inFlight := slices.Clone(w.inFlight)
		w.mu.Unlock()
		if len(inFlight) == 0 {
			continue
		}
		var late []*watched
		if w.budget.Timeout > 0 {
			for _, u := range inFlight {
				if time.Since(u.start) > w.budget.Timeout {
					late = append(late, u)
				}
			}
		}
		if len(late) > 0 {
			w.breach(Breach{}, late)
			continue
		}
		if w.budget.Memory > 0 {
			if heap := w.heapOver(sample); heap > 0 {
				w.breach(Breach{Memory: true, Heap: heap}, inFlight)
			}
		}
	}
}

// heapOver returns the heap when it is over the budget, else 0. The heap sampled counts garbage not
// yet collected, so a sample over the limit is confirmed by a collection, at most once a second.
func (w *watchdog) heapOver(sample []metrics.Sample) uint64 {
	metrics.Read(sample)
	if sample[0].Value.Uint64() <= w.budget.Memory || time.Now().Before(w.nextGC) {
		return 0
	}
	runtime.GC()
	w.nextGC = time.Now().Add(time.Second)
	metrics.Read(sample)
	if heap := sample[0].Value.Uint64(); heap > w.budget.Memory {
		return heap
	}
	return 0
}

// runsOn ends the finding of an evaluation the engine stopped waiting for, which goes on in the
// process (see Budget.Exceeded).
const runsOn = "; it cannot be stopped and runs on until the process ends"

// breach tells the hook, then stops the units to blame.
func (w *watchdog) breach(b Breach, blame []*watched) {
	b.budget = w.budget
	for _, u := range blame {
		b.Units = append(b.Units, u.unit)
	}
	w.mu.Lock()
	for name := range w.pending {
		b.Pending = append(b.Pending, Unit{Name: name, e: w.e})
	}
	w.mu.Unlock()
	slices.SortFunc(b.Pending, func(x, y Unit) int { return cmp.Compare(x.Name, y.Name) })
	if w.budget.Exceeded != nil {
		w.budget.Exceeded(b)
	}
	for _, u := range blame {
		if u.state.CompareAndSwap(running, stopping) {
			u.reason = b.Reason(u.unit) + runsOn
			u.state.Store(stopped)
			close(u.over)
		}
	}
}
