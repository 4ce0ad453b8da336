package plan

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// entry is one key of a key-list plan, as its key file stores it (a line
// scan.KeyReader reads).
type entry struct {
	Key  string `json:"key"`
	Size *int64 `json:"size,omitempty"`
	MD5  string `json:"md5,omitempty"`
}

func newEntry(e scan.KeyEntry) entry {
	out := entry{Key: e.Key}
	if e.Size >= 0 {
		out.Size = &e.Size
	}
	if len(e.MD5) > 0 {
		out.MD5 = hex.EncodeToString(e.MD5)
	}
	return out
}

// next reads one entry; io.EOF at the end.
type nextFunc func() (scan.KeyEntry, error)

// FromKeys returns a builder of a plan of the key list r (plain lines, JSONL
// or CSV, as scan reads them; name for messages): its keys are cut, in
// their order, into partitions of consecutive keys, each stored as a key
// file in the state location. A bad line is a *scan.LineError.
func FromKeys(r io.Reader, name string, o Options) func(context.Context, *State) (*Plan, error) {
	kr := scan.NewKeyReader(r, name)
	return fromEntries(KindKeys, name, kr.Next, o)
}

// fromEntries spools the entries to a temporary file (so the list is read
// once, even from stdin, and memory stays O(1)), then writes the partitions.
func fromEntries(kind, source string, next nextFunc, o Options) func(context.Context, *State) (*Plan, error) {
	return func(ctx context.Context, st *State) (*Plan, error) {
		if err := o.check(); err != nil {
			return nil, err
		}
		start := time.Now()
		spool, total, err := spoolEntries(next)
		if err != nil {
			return nil, err
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		p := &Plan{Version: Version, Kind: kind, Source: source, Created: time.Now().UTC(), Totals: total,
			ListSeconds: time.Since(start).Seconds()}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		p.Partitions, err = st.writeKeyFiles(ctx, bufio.NewReader(spool), o.perPartition(total.Objects))
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

func spoolEntries(next nextFunc) (*os.File, scan.Workload, error) {
	var total scan.Workload
	f, err := os.CreateTemp("", "ferry-plan-*.jsonl")
	if err != nil {
		return nil, total, err
	}
	fail := func(err error) (*os.File, scan.Workload, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, total, err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for {
		e, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		total.Add(e.Size)
		if err := enc.Encode(newEntry(e)); err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	return f, total, nil
}

// writeKeyFiles cuts the spooled entries into key files of per entries,
// written create-only (a racing plan create fails instead of mixing two
// plans' files).
func (s *State) writeKeyFiles(ctx context.Context, r *bufio.Reader, per int64) ([]Partition, error) {
	ctx, cancel := context.WithCancel(ctx)
	parts := []Partition{}
	var (
		w   *blob.Writer
		cur *Partition
	)
	defer func() {
		if w != nil { // an error: cancelling before Close aborts the write
			cancel()
			_ = w.Close()
		}
		cancel()
	}()
	finish := func() error {
		if w == nil {
			return nil
		}
		err := w.Close()
		w = nil
		if err != nil {
			return s.keyFileError(cur.KeyFile, err)
		}
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if cur == nil || cur.Work.Objects >= per {
			if err := finish(); err != nil {
				return nil, err
			}
			parts = append(parts, Partition{Index: len(parts), KeyFile: keyFileKey(len(parts))})
			cur = &parts[len(parts)-1]
			w, err = s.b.NewWriter(ctx, cur.KeyFile, &blob.WriterOptions{ContentType: "application/x-ndjson", IfNotExist: true})
			if err != nil {
				return nil, s.keyFileError(cur.KeyFile, err)
			}
		}
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, err
		}
		size := int64(-1)
		if e.Size != nil {
			size = *e.Size
		}
		cur.Work.Add(size)
		if cur.First == "" {
			cur.First = e.Key
		}
		cur.Last = e.Key
		if _, err := w.Write(line); err != nil {
			return nil, s.keyFileError(cur.KeyFile, err)
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("the key list is empty")
	}
	return parts, nil
}

func (s *State) keyFileError(key string, err error) error {
	if store.IsExists(err) {
		return fmt.Errorf("%s: %s exists (a plan create ran here before): %w", s, key, ErrExists)
	}
	return fmt.Errorf("%s: write %s: %w", s, key, err)
}
