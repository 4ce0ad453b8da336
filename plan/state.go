package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// State is a plan's state location: a directory or a bucket URL (for
// example a reserved prefix of the target, s3://target/.ferry/plans/june?...)
// that every worker reads and writes. Every object it holds, and who
// writes it:
//
//	plan.json                      ferry plan create, create-only: the Plan
//	keys/p-NNNNNN.jsonl            ferry plan create (key-list plans): a partition's keys
//	claims/p-NNNNNN/a-NNNN.json    a worker: attempt NNNN at partition NNNNNN, created
//	                               create-only (the claim), then rewritten by its worker
//	                               only (heartbeat, and how the attempt ended)
//	done/p-NNNNNN.json             a worker, create-only: the completion Marker; the
//	                               first one wins, so a partition is done (and its
//	                               counts taken) once
//	failed/p-NNNNNN-a-NNNN.jsonl   a worker: the failure manifest of an attempt (scan's
//	                               KeyError lines, a valid key list); read by finalize
//
// Objects are written whole (a bucket write is atomic), so a reader never
// sees half of one.
type State struct {
	b    *store.Bucket
	name string // the location without secrets, for messages
}

var (
	// ErrNoPlan is returned by Load when the location holds no plan.
	ErrNoPlan = errors.New("no plan here (create one with ferry plan create)")
	// ErrExists is returned by Create when the location already holds a plan.
	ErrExists = errors.New("a plan already exists here (use another location, or remove it first)")
)

// Open opens the state location at rawURL; create makes a missing local
// directory (plan create), otherwise it must exist.
func Open(ctx context.Context, rawURL string, create bool) (*State, error) {
	b, err := store.OpenWith(ctx, rawURL, store.Options{Create: create})
	if err != nil {
		return nil, fmt.Errorf("plan state: %w", err)
	}
	return &State{b: b, name: store.Redact(rawURL)}, nil
}

// NewState returns the state held in b (tests, and callers that opened it).
func NewState(b *store.Bucket, name string) *State { return &State{b: b, name: name} }

// Close closes the location.
func (s *State) Close() error { return s.b.Close() }

func (s *State) String() string { return "plan " + s.name }

const planKey = "plan.json"

func keyFileKey(part int) string { return fmt.Sprintf("keys/p-%06d.jsonl", part) }
func claimsPrefix(part int) string {
	return fmt.Sprintf("claims/p-%06d/", part)
}
func claimKey(part, attempt int) string {
	return claimsPrefix(part) + fmt.Sprintf("a-%04d.json", attempt)
}
func doneKey(part int) string { return fmt.Sprintf("done/p-%06d.json", part) }
func failedKey(part, attempt int) string {
	return fmt.Sprintf("failed/p-%06d-a-%04d.jsonl", part, attempt)
}

// Load reads the plan (ErrNoPlan when there is none).
func (s *State) Load(ctx context.Context) (*Plan, error) {
	var p Plan
	if err := s.readJSON(ctx, planKey, &p); err != nil {
		if store.IsNotFound(err) {
			return nil, fmt.Errorf("%s: %w", s, ErrNoPlan)
		}
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", s, planKey, err)
	}
	return &p, nil
}

func (s *State) save(ctx context.Context, p *Plan) error {
	if err := s.create(ctx, planKey, p); err != nil {
		if store.IsExists(err) {
			return fmt.Errorf("%s: %w", s, ErrExists)
		}
		return err
	}
	return nil
}

// create writes v as JSON at key, create-only: an error for which
// store.IsExists holds when key exists.
func (s *State) create(ctx context.Context, key string, v any) error {
	return s.write(ctx, key, v, true)
}

func (s *State) write(ctx context.Context, key string, v any, createOnly bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	err = s.b.WriteAll(ctx, key, append(b, '\n'), &blob.WriterOptions{ContentType: "application/json", IfNotExist: createOnly})
	if err != nil && !store.IsExists(err) {
		return fmt.Errorf("%s: write %s: %w", s, key, err)
	}
	return err
}

func (s *State) readJSON(ctx context.Context, key string, v any) error {
	b, err := s.b.ReadAll(ctx, key)
	if err != nil {
		if store.IsNotFound(err) {
			return err
		}
		return fmt.Errorf("%s: read %s: %w", s, key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %s: %w", s, key, err)
	}
	return nil
}

// keys lists the keys under prefix.
func (s *State) keys(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: list %s: %w", s, prefix, err)
		}
		if !o.IsDir {
			out = append(out, o.Key)
		}
	}
}

// Claim is one attempt of a worker at a partition.
type Claim struct {
	Partition int       `json:"partition"`
	Attempt   int       `json:"attempt"`
	Worker    string    `json:"worker"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
	// Lease is how long after Heartbeat the attempt counts as abandoned.
	Lease time.Duration `json:"lease_ns"`
	State string        `json:"state"` // running, done, failed
	Error string        `json:"error,omitempty"`
	// Stats are the counts of the attempt's scan, once it ran to its end.
	Stats *scan.Stats `json:"stats,omitempty"`
}

// Attempt states.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// abandoned reports whether a running attempt stopped beating at now.
func (c *Claim) abandoned(now time.Time) bool {
	return c.State == StateRunning && now.Sub(c.Heartbeat) > c.Lease
}

// Marker is a partition's completion marker: the counts of the attempt that
// finished it first.
type Marker struct {
	Partition int        `json:"partition"`
	Attempt   int        `json:"attempt"`
	Worker    string     `json:"worker"`
	Finished  time.Time  `json:"finished"`
	Seconds   float64    `json:"duration_seconds"`
	Stats     scan.Stats `json:"stats"`
	// Manifest is the state key of the attempt's failure manifest ("" when
	// nothing failed).
	Manifest string `json:"failure_manifest,omitempty"`
}

// latestClaims returns the newest attempt of every partition that has one.
func (s *State) latestClaims(ctx context.Context) (map[int]int, error) {
	all, err := s.allClaims(ctx)
	if err != nil {
		return nil, err
	}
	latest := map[int]int{}
	for part, attempts := range all {
		latest[part] = slices.Max(attempts)
	}
	return latest, nil
}

// allClaims returns the attempts of every partition that has one.
func (s *State) allClaims(ctx context.Context) (map[int][]int, error) {
	keys, err := s.keys(ctx, "claims/")
	if err != nil {
		return nil, err
	}
	all := map[int][]int{}
	for _, k := range keys {
		if part, attempt, ok := parseClaimKey(k); ok {
			all[part] = append(all[part], attempt)
		}
	}
	return all, nil
}

// parseClaimKey reads claims/p-NNNNNN/a-NNNN.json.
func parseClaimKey(k string) (part, attempt int, ok bool) {
	rest, found := strings.CutPrefix(k, "claims/p-")
	ps, as, found2 := strings.Cut(rest, "/a-")
	as, found3 := strings.CutSuffix(as, ".json")
	p, err1 := strconv.Atoi(ps)
	a, err2 := strconv.Atoi(as)
	return p, a, found && found2 && found3 && err1 == nil && err2 == nil
}

// doneParts returns the partitions with a completion marker.
func (s *State) doneParts(ctx context.Context) (map[int]bool, error) {
	keys, err := s.keys(ctx, "done/")
	if err != nil {
		return nil, err
	}
	done := map[int]bool{}
	for _, k := range keys {
		var p int
		if _, err := fmt.Sscanf(k, "done/p-%06d.json", &p); err == nil {
			done[p] = true
		}
	}
	return done, nil
}

func (s *State) claim(ctx context.Context, part, attempt int) (*Claim, error) {
	var c Claim
	if err := s.readJSON(ctx, claimKey(part, attempt), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *State) marker(ctx context.Context, part int) (*Marker, error) {
	var m Marker
	if err := s.readJSON(ctx, doneKey(part), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Progress returns how many partitions of the plan are done, out of all.
func (s *State) Progress(ctx context.Context) (done, total int, err error) {
	p, err := s.Load(ctx)
	if err != nil {
		return 0, 0, err
	}
	d, err := s.doneParts(ctx)
	return len(d), len(p.Partitions), err
}

// FailedKeys returns the keys of every failure manifest any worker left, for
// finalize. A torn line is skipped.
func (s *State) FailedKeys(ctx context.Context) ([]string, error) {
	keys, err := s.keys(ctx, "failed/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		b, err := s.b.ReadAll(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", s, k, err)
		}
		kr := scan.NewKeyReader(bytes.NewReader(b), s.name+"/"+k)
		for {
			e, err := kr.Next()
			if err == io.EOF {
				break
			}
			var le *scan.LineError
			if errors.As(err, &le) {
				continue // a torn line of a killed worker
			}
			if err != nil {
				return nil, err
			}
			if !seen[e.Key] {
				seen[e.Key] = true
				out = append(out, e.Key)
			}
		}
	}
	return out, nil
}
