// Package plan cuts a migration into partitions that any number of workers
// take, on scan's engine, with no coordinator: the plan, the workers' claims,
// their create-only completion markers and their failure manifests live in
// one shared state location (a directory or a bucket URL, see State).
//
// A plan comes from a listable origin (partitions are key ranges, listed
// concurrently when it is built), from a key list or from an S3 Inventory
// manifest (partitions are consecutive runs of the list, stored as key files
// in the state location). plan imports scan and store; scan knows nothing of
// plans.
package plan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferry-migrate/ferry/scan"
)

// Kinds of plan, by where the keys came from.
const (
	KindList      = "list"      // a listable origin: partitions are key ranges
	KindKeys      = "keys"      // a key list: partitions are key files
	KindInventory = "inventory" // an S3 Inventory: partitions are key files
)

// Version is the version of plan.json this code writes and reads.
const Version = 1

// Plan is a migration cut into partitions, as stored in plan.json.
type Plan struct {
	Version    int         `json:"version"`
	Kind       string      `json:"kind"`
	Source     string      `json:"source"` // the origin, key list or manifest (URL without secrets)
	Prefix     string      `json:"prefix,omitempty"`
	Created    time.Time   `json:"created"`
	Partitions []Partition `json:"partitions"`
	// Totals sums the partitions.
	Totals scan.Workload `json:"totals"`
	// ListSeconds is how long building the plan took to list the source.
	ListSeconds float64 `json:"list_seconds,omitempty"`
}

// Partition is one unit of work. A range partition holds the keys k with
// After < k <= Until in byte order ("" is unbounded on that side), so the
// ranges of a plan cover every key exactly once. A key-file partition holds
// the keys of its file in the state location, First to Last in list order.
type Partition struct {
	Index   int           `json:"index"`
	After   string        `json:"after,omitempty"`
	Until   string        `json:"until,omitempty"`
	KeyFile string        `json:"key_file,omitempty"`
	First   string        `json:"first,omitempty"`
	Last    string        `json:"last,omitempty"`
	Work    scan.Workload `json:"work"`
}

// Contains reports whether key falls in a range partition.
func (p Partition) Contains(key string) bool {
	return scan.KeyRange{After: p.After, Until: p.Until}.Contains(key)
}

// Options says how to cut a plan.
type Options struct {
	// Partitions is how many partitions to aim for (default 16), unless
	// PartitionObjects is set: then each holds about that many objects.
	Partitions       int
	PartitionObjects int64
	// Listers is how many listings run at once for a listable origin
	// (default 16).
	Listers int
	Prefix  string // only keys with this prefix (a listable origin)
	// Logger is told of what a directory origin's listing leaves out (a
	// directory it cannot read, a file no key reads); nil: nothing.
	Logger *slog.Logger
}

const (
	defaultPartitions = 16
	defaultListers    = 16
	// maxPartitions keeps plan.json and a status listing small.
	maxPartitions = 100000
)

func (o *Options) check() error {
	switch {
	case o.Partitions < 0 || o.Partitions > maxPartitions:
		return fmt.Errorf("partitions %d: want 1..%d", o.Partitions, maxPartitions)
	case o.PartitionObjects < 0:
		return fmt.Errorf("partition size %d: want a positive number of objects", o.PartitionObjects)
	case o.Partitions > 0 && o.PartitionObjects > 0:
		return errors.New("give the number of partitions or their size, not both")
	}
	if o.Partitions == 0 && o.PartitionObjects == 0 {
		o.Partitions = defaultPartitions
	}
	if o.Listers <= 0 {
		o.Listers = defaultListers
	}
	return nil
}

// perPartition is how many objects go in each partition out of total.
func (o *Options) perPartition(total int64) int64 {
	if o.PartitionObjects > 0 {
		return max(o.PartitionObjects, (total+maxPartitions-1)/maxPartitions)
	}
	return max(1, (total+int64(o.Partitions)-1)/int64(o.Partitions))
}

// Estimate is the estimate of copying the whole plan into an empty target.
func (p *Plan) Estimate(r scan.Rates, prices scan.Prices) scan.Estimate {
	if r == (scan.Rates{}) && p.ListSeconds > 0 && p.Kind == KindList {
		pages := float64(max(1, (p.Totals.Objects+999)/1000))
		r = scan.Rates{ListPagesPerSec: pages / p.ListSeconds, Measured: true}
	}
	return scan.NewEstimate(p.Totals, p.Totals, p.Kind == KindList, r, prices)
}

// check refuses a plan.json this code cannot run.
func (p *Plan) check() error {
	if p.Version != Version {
		return fmt.Errorf("plan version %d: this ferry reads version %d", p.Version, Version)
	}
	switch p.Kind {
	case KindList, KindKeys, KindInventory:
	default:
		return fmt.Errorf("unknown plan kind %q", p.Kind)
	}
	if len(p.Partitions) == 0 {
		return errors.New("the plan has no partitions")
	}
	for i, part := range p.Partitions {
		if part.Index != i {
			return fmt.Errorf("partition %d is listed as number %d", i, part.Index)
		}
		// A key file is always where plan create put it: a plan.json
		// cannot point a worker at another object of the location.
		if want := keyFileKey(i); p.Kind != KindList && part.KeyFile != want {
			return fmt.Errorf("partition %d: key file %q, want %q", i, part.KeyFile, want)
		}
		if p.Kind == KindList && part.KeyFile != "" {
			return fmt.Errorf("partition %d of a listing plan has a key file", i)
		}
	}
	return nil
}

// Create builds a plan with build and stores it in st, create-only: an
// existing plan is never replaced (an error wrapping ErrExists).
func Create(ctx context.Context, st *State, build func(context.Context, *State) (*Plan, error)) (*Plan, error) {
	if _, err := st.Load(ctx); err == nil {
		return nil, fmt.Errorf("%s: %w", st, ErrExists)
	} else if !errors.Is(err, ErrNoPlan) {
		return nil, err
	}
	p, err := build(ctx, st)
	if err != nil {
		return nil, err
	}
	if err := st.save(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}
