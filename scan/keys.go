package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"gocloud.dev/blob"
)

// KeyEntry is one line of a key list.
type KeyEntry struct {
	Key  string
	Size int64 // -1 when not given
	MD5  []byte
	Line int
	raw  []byte // the line, for the checkpoint hash
}

// KeyReader reads a key list: one key per line (the whole line is the key,
// spaces included), JSON lines with "key" and optional "size" and "md5"
// (hex or base64), or CSV whose first line is a header naming the columns
// key, size and md5. Empty lines are skipped. Errors name the file and line.
type KeyReader struct {
	name string
	sc   *bufio.Scanner
	line int
	csv  map[string]int // column index by name, when the file is CSV
	cols int
}

// NewKeyReader returns a reader of the key list r, called name in errors.
func NewKeyReader(r io.Reader, name string) *KeyReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	return &KeyReader{name: name, sc: sc}
}

func (kr *KeyReader) errf(format string, a ...any) error {
	return &LineError{File: kr.name, Line: kr.line, Msg: fmt.Sprintf(format, a...)}
}

// Next returns the next entry, or io.EOF.
func (kr *KeyReader) Next() (KeyEntry, error) {
	for kr.sc.Scan() {
		kr.line++
		raw := kr.sc.Bytes()
		line := strings.TrimSuffix(string(raw), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if kr.line == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
			if h, ok := csvHeader(line); ok {
				kr.csv, kr.cols = h, strings.Count(line, ",")+1
				continue
			}
		}
		e, err := kr.parse(line)
		if err != nil {
			return KeyEntry{}, err
		}
		e.Line = kr.line
		e.raw = append([]byte(nil), raw...)
		return e, nil
	}
	if err := kr.sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return KeyEntry{}, &LineError{File: kr.name, Line: kr.line + 1, Msg: "line longer than 1 MiB"}
		}
		return KeyEntry{}, fmt.Errorf("keys file %s: %w", kr.name, err)
	}
	return KeyEntry{}, io.EOF
}

// csvHeader recognizes a header line such as "key,size,md5".
func csvHeader(line string) (map[string]int, bool) {
	if !strings.Contains(line, ",") && strings.TrimSpace(strings.ToLower(line)) != "key" {
		return nil, false
	}
	cols := map[string]int{}
	for i, f := range strings.Split(line, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch f {
		case "key", "size", "md5":
			if _, dup := cols[f]; dup {
				return nil, false
			}
			cols[f] = i
		default:
			return nil, false
		}
	}
	_, ok := cols["key"]
	return cols, ok
}

func (kr *KeyReader) parse(line string) (KeyEntry, error) {
	e := KeyEntry{Size: -1}
	switch {
	case kr.csv != nil:
		r := csv.NewReader(strings.NewReader(line))
		r.FieldsPerRecord = kr.cols
		rec, err := r.Read()
		if err != nil {
			return e, kr.errf("bad CSV record: %v", csvMsg(err))
		}
		e.Key = rec[kr.csv["key"]]
		if i, ok := kr.csv["size"]; ok && rec[i] != "" {
			n, err := strconv.ParseInt(strings.TrimSpace(rec[i]), 10, 64)
			if err != nil || n < 0 {
				return e, kr.errf("size %q is not a non-negative integer", rec[i])
			}
			e.Size = n
		}
		if i, ok := kr.csv["md5"]; ok && rec[i] != "" {
			m, err := parseMD5(strings.TrimSpace(rec[i]))
			if err != nil {
				return e, kr.errf("%v", err)
			}
			e.MD5 = m
		}
	case strings.HasPrefix(strings.TrimSpace(line), "{"):
		var j struct {
			Key  *string         `json:"key"`
			Size json.RawMessage `json:"size"`
			MD5  string          `json:"md5"`
		}
		d := json.NewDecoder(strings.NewReader(line))
		if err := d.Decode(&j); err != nil {
			return e, kr.errf("bad JSON: %v", err)
		}
		if j.Key == nil {
			return e, kr.errf(`JSON line has no "key"`)
		}
		e.Key = *j.Key
		if len(j.Size) > 0 && !bytes.Equal(j.Size, []byte("null")) {
			n, err := strconv.ParseInt(string(j.Size), 10, 64)
			if err != nil || n < 0 {
				return e, kr.errf("size %s is not a non-negative integer", j.Size)
			}
			e.Size = n
		}
		if j.MD5 != "" {
			m, err := parseMD5(j.MD5)
			if err != nil {
				return e, kr.errf("%v", err)
			}
			e.MD5 = m
		}
	default:
		e.Key = line
	}
	if e.Key == "" {
		return e, kr.errf("empty key")
	}
	if strings.ContainsAny(e.Key, "\x00\n") {
		return e, kr.errf("key contains a NUL or newline")
	}
	return e, nil
}

func csvMsg(err error) string {
	if pe, ok := err.(*csv.ParseError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseMD5 accepts 32 hex digits or the base64 of 16 bytes (Content-MD5).
func parseMD5(s string) ([]byte, error) {
	if len(s) == 32 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 16 {
		return b, nil
	}
	return nil, fmt.Errorf("md5 %q is neither 32 hex digits nor base64 of 16 bytes", s)
}

// prepareKeys validates a seekable key list in one pass, finds where a
// checkpoint of an interrupted run with the same RunID lets this run resume,
// and rewinds. It returns the number of entries to skip.
func (r *run) prepareKeys() (int64, error) {
	name := r.o.KeysName
	if name == "" {
		name = "-"
	}
	sk, ok := r.o.Keys.(io.Seeker)
	if !ok {
		return 0, nil
	}
	if _, err := sk.Seek(0, io.SeekCurrent); err != nil {
		return 0, nil // a pipe: validated while streaming
	}
	var cp *checkpoint
	if r.cpPath != "" {
		c, err := readCheckpoint(r.cpPath, r.o.RunID)
		if err != nil {
			r.log.Warn("checkpoint unreadable, starting over", "err", err)
		}
		cp = c
	}
	kr := NewKeyReader(r.o.Keys, name)
	h := hashStart
	var n, skip int64
	for {
		e, err := kr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		h = lineHash(h, e.raw)
		n++
		if cp != nil && n == cp.Entries && strconv.FormatUint(h, 16) == cp.Hash {
			skip = n
		}
	}
	if _, err := sk.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if skip > 0 {
		r.resumed = skip
		r.log.Info("resuming an interrupted scan from its checkpoint", "entries_done", skip, "last_key", cp.LastKey)
	}
	return skip, nil
}

// produceKeys reads the key list; every key is checked in the target first.
func (r *run) produceKeys(ctx context.Context, out chan<- item) error {
	name := r.o.KeysName
	if name == "" {
		name = "-"
	}
	skip, _ := r.trk.mark()
	// Into an empty target every key is missing: copy without checking
	// each one first, as the listing mode does (an existence check is one
	// more request per object; create-only writes keep a key written
	// meanwhile safe).
	act := actCheck
	if r.targetEmpty(ctx) {
		act = actCopy
	}
	kr := NewKeyReader(r.o.Keys, name)
	h := hashStart
	var seq int64
	for {
		e, err := kr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		h = lineHash(h, e.raw)
		it := item{act: act, key: e.Key, size: e.Size, md5: e.MD5, seq: seq, track: trackEntry{hash: h, key: e.Key}}
		seq++
		if it.seq < skip {
			continue
		}
		if !r.f.match(e.Key) {
			r.done(it)
			continue
		}
		r.t.note(evListed, e.Size)
		delete(r.pendingExtra, e.Key)
		if err := send(ctx, out, it); err != nil {
			return err
		}
	}
}

// targetEmpty reports whether the target holds no key under the prefix;
// false when that cannot be told.
func (r *run) targetEmpty(ctx context.Context) bool {
	var objs []*blob.ListObject
	err := r.retry(ctx, slog.String("listing", "target"), func() error {
		var err error
		objs, _, err = r.o.Target.ListPage(ctx, blob.FirstPageToken, 1, &blob.ListOptions{Prefix: r.o.Prefix})
		return err
	})
	return err == nil && len(objs) == 0
}
