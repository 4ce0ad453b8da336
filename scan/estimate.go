package scan

import (
	"fmt"
	"io"
	"math"
)

// The request shapes an estimate assumes: a listing page holds this many keys
// (S3's cap), and objects this big go up as multipart uploads of parts this
// size (mirror/commit.go), which costs a create and a complete on top.
const (
	estimatePageKeys  = listPageSize
	estimateMultipart = 16 << 20
)

// Workload is what a copy has to move, summed object by object so that the
// requests of multipart uploads are counted: Add each object once.
type Workload struct {
	Objects     int64 `json:"objects"`
	Bytes       int64 `json:"bytes"`
	UnknownSize int64 `json:"unknown_size,omitempty"` // objects whose size the source did not say
	PutRequests int64 `json:"put_requests"`
}

// Add counts one object of size bytes (negative: unknown, counted as one PUT).
func (w *Workload) Add(size int64) {
	w.Objects++
	if size < 0 {
		w.UnknownSize++
		w.PutRequests++
		return
	}
	w.Bytes += size
	w.PutRequests += putRequests(size)
}

// Merge adds the objects of o.
func (w *Workload) Merge(o Workload) {
	w.Objects += o.Objects
	w.Bytes += o.Bytes
	w.UnknownSize += o.UnknownSize
	w.PutRequests += o.PutRequests
}

func putRequests(size int64) int64 {
	if size < estimateMultipart {
		return 1
	}
	return 2 + (size+estimateMultipart-1)/estimateMultipart
}

// Rates are the speeds an estimate assumes; a zero rate leaves its part of
// the time out (and the time is not given when every rate is zero).
type Rates struct {
	ObjectsPerSec   float64 `json:"objects_per_second,omitempty"`
	BytesPerSec     float64 `json:"bytes_per_second,omitempty"`
	ListPagesPerSec float64 `json:"list_pages_per_second,omitempty"`
	Measured        bool    `json:"measured,omitempty"` // the rates were measured, not given
}

// Prices are what the operator pays, in any one currency; zero: not priced.
type Prices struct {
	EgressPerGB     float64 `json:"egress_per_gb,omitempty"`
	Per1000Requests float64 `json:"per_1000_requests,omitempty"`
}

// Estimate is what a migration costs in requests, time and money, for a
// person (WriteText) and as JSON.
type Estimate struct {
	Listed       Workload `json:"listed"`  // the source's objects considered
	ToCopy       Workload `json:"to_copy"` // what is copied (all of Listed when the target is not diffed)
	ListRequests int64    `json:"list_requests"`
	HeadRequests int64    `json:"head_requests"`
	GetRequests  int64    `json:"get_requests"`
	PutRequests  int64    `json:"put_requests"`
	Rates        Rates    `json:"rates"`
	Seconds      float64  `json:"seconds,omitempty"` // at Rates; 0: no rate given
	Prices       *Prices  `json:"prices,omitempty"`
	CostEgress   float64  `json:"cost_egress,omitempty"`
	CostRequests float64  `json:"cost_requests,omitempty"`
	Cost         float64  `json:"cost,omitempty"`
}

// NewEstimate estimates copying toCopy out of listed. listing says the
// source and the target are listed and diffed (one LIST per page on each
// side); otherwise (a key list) every key is checked in the target with
// one HEAD.
func NewEstimate(listed, toCopy Workload, listing bool, r Rates, p Prices) Estimate {
	e := Estimate{Listed: listed, ToCopy: toCopy, Rates: r, GetRequests: toCopy.Objects, PutRequests: toCopy.PutRequests}
	pages := (listed.Objects + estimatePageKeys - 1) / estimatePageKeys
	if listing {
		e.ListRequests = 2 * max(pages, 1)
	} else {
		e.HeadRequests = listed.Objects
		e.ListRequests = 1 // is the target empty?
	}
	var t float64
	if r.ObjectsPerSec > 0 {
		t = max(t, float64(toCopy.Objects)/r.ObjectsPerSec)
	}
	if r.BytesPerSec > 0 {
		t = max(t, float64(toCopy.Bytes)/r.BytesPerSec)
	}
	if r.ListPagesPerSec > 0 && listing {
		t += float64(e.ListRequests/2) / r.ListPagesPerSec // both sides are listed at once
	}
	e.Seconds = t
	if p != (Prices{}) {
		e.Prices = &p
		e.CostEgress = float64(toCopy.Bytes) / (1 << 30) * p.EgressPerGB
		e.CostRequests = float64(e.ListRequests+e.HeadRequests+e.GetRequests+e.PutRequests) / 1000 * p.Per1000Requests
		e.Cost = e.CostEgress + e.CostRequests
	}
	return e
}

// WriteText writes the estimate for people.
func (e Estimate) WriteText(w io.Writer) {
	fmt.Fprintf(w, "estimate: %d objects (%s) to copy of %d listed (%s)",
		e.ToCopy.Objects, FormatBytes(e.ToCopy.Bytes), e.Listed.Objects, FormatBytes(e.Listed.Bytes))
	if e.ToCopy.UnknownSize > 0 {
		fmt.Fprintf(w, ", %d of unknown size", e.ToCopy.UnknownSize)
	}
	fmt.Fprintf(w, "\n  requests: %d LIST, %d HEAD, %d GET, %d PUT\n", e.ListRequests, e.HeadRequests, e.GetRequests, e.PutRequests)
	if e.Seconds > 0 {
		how := "given"
		if e.Rates.Measured {
			how = "measured"
		}
		what := ""
		if e.Rates.ObjectsPerSec == 0 && e.Rates.BytesPerSec == 0 {
			what = " to list (give --rate-objects or --rate-bytes for the copy)"
		}
		fmt.Fprintf(w, "  time: %s%s at the %s rate (%s)\n", formatSeconds(e.Seconds), what, how, e.Rates.text())
	} else {
		fmt.Fprintln(w, "  time: give a rate (--rate-objects, --rate-bytes) to estimate it")
	}
	if e.Prices != nil {
		fmt.Fprintf(w, "  cost: %.2f (egress %.2f at %g per GB, requests %.2f at %g per 1,000)\n",
			e.Cost, e.CostEgress, e.Prices.EgressPerGB, e.CostRequests, e.Prices.Per1000Requests)
	}
}

func (r Rates) text() string {
	s := ""
	add := func(part string) {
		if s != "" {
			s += ", "
		}
		s += part
	}
	if r.ObjectsPerSec > 0 {
		add(fmt.Sprintf("%.0f objects/s", r.ObjectsPerSec))
	}
	if r.BytesPerSec > 0 {
		add(FormatBytes(int64(r.BytesPerSec)) + "/s")
	}
	if r.ListPagesPerSec > 0 {
		add(fmt.Sprintf("%.1f list pages/s", r.ListPagesPerSec))
	}
	return s
}

// formatSeconds writes a duration for people: 42s, 12m30s, 3h05m, 2d04h.
func formatSeconds(s float64) string {
	n := int64(math.Ceil(s))
	switch {
	case n < 60:
		return fmt.Sprintf("%ds", n)
	case n < 3600:
		return fmt.Sprintf("%dm%02ds", n/60, n%60)
	case n < 86400:
		return fmt.Sprintf("%dh%02dm", n/3600, n%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", n/86400, n%86400/3600)
}

// Counted is the workload of objects that were only counted (a scan's
// tally): one PUT each, as if none needed a multipart upload.
func Counted(objects, bytes int64) Workload {
	return Workload{Objects: objects, Bytes: bytes, PutRequests: objects}
}
