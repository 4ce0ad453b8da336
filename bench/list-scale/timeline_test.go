package main

import (
	"strings"
	"testing"
	"time"
)

// The report counts the requests in flight from the recorded spans: two
// requests of 100 ms each over 200 ms of listing are one in flight on
// average, two at the peak while they overlap.
func TestTimelineReport(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var tl timeline
	tl.spans = [][2]time.Time{{ms(10), ms(110)}, {ms(60), ms(160)}, {ms(110), ms(210)}}
	var steps strings.Builder
	got := tl.report(ms(0), ms(230), 1, &steps)
	for _, want := range []string{"first list +10ms", "listing 0.20s at 1.5 in flight", "peak 2 of 2", "all 2 busy at +60ms", "exit 20ms after the last"} {
		if !strings.Contains(got, want) {
			t.Errorf("report %q lacks %q", got, want)
		}
	}
	// 50 ms steps from the first request: 10-60 one, 60-110 two, 110-160 two, 160-210 one.
	lines := strings.Fields(steps.String())
	if want := []string{"0ms", "1.0", "50ms", "2.0", "100ms", "2.0", "150ms", "1.0", "200ms", "0.0"}; strings.Join(lines, " ") != strings.Join(want, " ") {
		t.Errorf("steps %q, want %q", lines, want)
	}
	tl.reset()
	if got := tl.report(ms(0), ms(1), 1, nil); got != "no list requests" {
		t.Errorf("empty timeline: %q", got)
	}
}
