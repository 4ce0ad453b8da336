package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// timeline records when each list request of a run began and ended, to
// show where a run's wall time goes: before the first request (process
// start, opening the buckets), how many requests were in flight on
// average while listing, and after the last one (the summary, exit).
type timeline struct {
	mu    sync.Mutex
	spans [][2]time.Time
}

func (t *timeline) add(begin time.Time) {
	end := time.Now()
	t.mu.Lock()
	t.spans = append(t.spans, [2]time.Time{begin, end})
	t.mu.Unlock()
}

func (t *timeline) reset() {
	t.mu.Lock()
	t.spans = t.spans[:0]
	t.mu.Unlock()
}

// report describes the run that started at start and ended at end, with
// listers listers per side: what a lister-bound run would keep at
// 2 x listers in flight. With steps, it also writes the requests in flight
// in each 50 ms of the listing to w.
func (t *timeline) report(start, end time.Time, listers int, steps io.Writer) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.spans) == 0 {
		return "no list requests"
	}
	first, last := t.spans[0][0], t.spans[0][1]
	var busy time.Duration
	type edge struct {
		at time.Time
		d  int
	}
	edges := make([]edge, 0, 2*len(t.spans))
	for _, s := range t.spans {
		first = minTime(first, s[0])
		if s[1].After(last) {
			last = s[1]
		}
		busy += s[1].Sub(s[0])
		edges = append(edges, edge{s[0], 1}, edge{s[1], -1})
	}
	// At the same instant an end goes first: a request that begins as
	// another ends is not two in flight.
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(a.at.Compare(b.at), a.d-b.d) })
	// When in-flight first reached 2 x listers (or its peak).
	peak, n, full := 0, 0, time.Time{}
	for _, e := range edges {
		n += e.d
		if n > peak {
			peak = n
		}
		if full.IsZero() && n >= 2*listers {
			full = e.at
		}
	}
	listing := last.Sub(first)
	if steps != nil {
		const step = 50 * time.Millisecond
		buckets := make([]time.Duration, listing/step+1)
		for _, s := range t.spans {
			for at := s[0]; at.Before(s[1]); {
				i := at.Sub(first) / step
				next := minTime(s[1], first.Add((i+1)*step))
				buckets[i] += next.Sub(at)
				at = next
			}
		}
		for i, b := range buckets {
			fmt.Fprintf(steps, "%5dms %5.1f\n", i*int(step/time.Millisecond), b.Seconds()/step.Seconds())
		}
	}
	s := fmt.Sprintf("timeline: first list +%dms, listing %.2fs at %.1f in flight on average (peak %d of %d)",
		first.Sub(start).Milliseconds(), listing.Seconds(), busy.Seconds()/listing.Seconds(), peak, 2*listers)
	if !full.IsZero() {
		s += fmt.Sprintf(", all %d busy at +%dms", 2*listers, full.Sub(start).Milliseconds())
	}
	return s + fmt.Sprintf(", exit %dms after the last", end.Sub(last).Milliseconds())
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
