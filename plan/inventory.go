package plan

import (
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ferry-migrate/ferry/scan"
	"github.com/ferry-migrate/ferry/store"
)

// inventoryManifest is the manifest.json of an S3 Inventory report, as S3
// writes it (only the fields a plan needs).
type inventoryManifest struct {
	SourceBucket string `json:"sourceBucket"`
	FileFormat   string `json:"fileFormat"`
	FileSchema   string `json:"fileSchema"`
	Files        []struct {
		Key string `json:"key"`
		MD5 string `json:"MD5checksum"`
	} `json:"files"`
}

// inventory reads the data files of one report, row after row.
type inventory struct {
	b      *store.Bucket // holds the data files (the inventory's destination bucket)
	m      inventoryManifest
	name   string
	cols   map[string]int
	ncols  int
	file   int // next file to open
	cur    *inventoryFile
	closed func() error
}

type inventoryFile struct {
	key  string
	want string
	sum  hash.Hash
	raw  io.ReadCloser
	body io.Reader
	csv  *csv.Reader
	line int
}

// FromInventory returns a builder of a plan of the S3 Inventory report whose
// manifest.json is at manifestURL: a bucket URL of the manifest object
// (s3://inventory-bucket/path/manifest.json?endpoint=...), whose data files
// are read from the same bucket, or a local file in a copy of that bucket
// (the data files are looked up from the directories above it). The data
// files must be CSV, gzip-compressed or not; rows of delete markers and of
// versions that are not the latest are skipped. A data file whose MD5
// differs from the manifest's is an error.
func FromInventory(ctx context.Context, manifestURL string, o Options) (func(context.Context, *State) (*Plan, error), func() error, error) {
	inv, err := openInventory(ctx, manifestURL)
	if err != nil {
		return nil, nil, fmt.Errorf("inventory %s: %w", store.Redact(manifestURL), err)
	}
	return fromEntries(KindInventory, store.Redact(manifestURL), inv.next, o), inv.close, nil
}

func openInventory(ctx context.Context, manifestURL string) (*inventory, error) {
	raw, root, err := readManifest(ctx, manifestURL)
	if err != nil {
		return nil, err
	}
	inv := &inventory{name: store.Redact(manifestURL)}
	if err := json.Unmarshal(raw, &inv.m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if !strings.EqualFold(inv.m.FileFormat, "CSV") {
		return nil, fmt.Errorf("manifest.json: fileFormat %q: only CSV inventories are read (configure the report as CSV)", inv.m.FileFormat)
	}
	inv.cols = map[string]int{}
	for i, c := range strings.Split(inv.m.FileSchema, ",") {
		inv.cols[strings.TrimSpace(c)] = i
		inv.ncols = i + 1
	}
	if _, ok := inv.cols["Key"]; !ok {
		return nil, fmt.Errorf("manifest.json: fileSchema %q has no Key column", inv.m.FileSchema)
	}
	if root == "" {
		if root, err = localRoot(manifestURL, inv.m.Files); err != nil {
			return nil, err
		}
	}
	b, err := store.OpenOrigin(ctx, root)
	if err != nil {
		return nil, err
	}
	inv.b, inv.closed = b, b.Close
	return inv, nil
}

// readManifest reads the manifest, and for a bucket URL returns the URL of
// its bucket ("" for a local file).
func readManifest(ctx context.Context, manifestURL string) ([]byte, string, error) {
	u, err := url.Parse(manifestURL)
	if err != nil || !strings.Contains(manifestURL, "://") || u.Scheme == "file" {
		path := manifestURL
		if err == nil && u.Scheme == "file" {
			path = u.Host + u.Path
		}
		b, err := os.ReadFile(path)
		return b, "", err
	}
	key := strings.TrimPrefix(u.Path, "/")
	if key == "" {
		return nil, "", errors.New("the URL names a bucket, not its manifest.json object")
	}
	u.Path = ""
	root := u.String()
	b, err := store.OpenOrigin(ctx, root)
	if err != nil {
		return nil, "", err
	}
	defer b.Close()
	data, err := b.ReadAll(ctx, key)
	return data, root, err
}

// localRoot finds the copy of the destination bucket that holds a local
// manifest: the nearest directory above it under which the first data file
// exists.
func localRoot(manifest string, files []struct {
	Key string `json:"key"`
	MD5 string `json:"MD5checksum"`
}) (string, error) {
	abs, err := filepath.Abs(strings.TrimPrefix(manifest, "file://"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return filepath.Dir(abs), nil
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(files[0].Key))); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("data file %s not found in any directory above the manifest", files[0].Key)
		}
	}
}

func (inv *inventory) close() error {
	if inv.cur != nil {
		inv.cur.raw.Close()
	}
	return inv.closed()
}

// next returns the next object of the report (io.EOF after the last).
func (inv *inventory) next() (scan.KeyEntry, error) {
	for {
		if inv.cur == nil {
			if inv.file == len(inv.m.Files) {
				return scan.KeyEntry{}, io.EOF
			}
			if err := inv.open(inv.file); err != nil {
				return scan.KeyEntry{}, err
			}
			inv.file++
		}
		rec, err := inv.cur.csv.Read()
		if err == io.EOF {
			if err := inv.finish(); err != nil {
				return scan.KeyEntry{}, err
			}
			continue
		}
		inv.cur.line++
		if err != nil {
			return scan.KeyEntry{}, inv.lineError("bad CSV record: %v", err)
		}
		e, keep, err := inv.entry(rec)
		if err != nil || keep {
			return e, err
		}
	}
}

func (inv *inventory) open(i int) error {
	f := inv.m.Files[i]
	r, err := inv.b.NewReader(context.Background(), f.Key, nil)
	if err != nil {
		return fmt.Errorf("inventory data file %s: %w", f.Key, err)
	}
	cur := &inventoryFile{key: f.Key, want: strings.ToLower(f.MD5), sum: md5.New(), raw: r}
	cur.body = io.TeeReader(r, cur.sum)
	if strings.HasSuffix(f.Key, ".gz") {
		gz, err := gzip.NewReader(cur.body)
		if err != nil {
			r.Close()
			return fmt.Errorf("inventory data file %s: %w", f.Key, err)
		}
		cur.body = gz
	}
	cur.csv = csv.NewReader(cur.body)
	cur.csv.FieldsPerRecord = inv.ncols
	inv.cur = cur
	return nil
}

// finish checks the MD5 of a data file read to its end.
func (inv *inventory) finish() error {
	cur := inv.cur
	inv.cur = nil
	defer cur.raw.Close()
	if _, err := io.Copy(cur.sum, cur.raw); err != nil { // anything after the gzip stream
		return fmt.Errorf("inventory data file %s: %w", cur.key, err)
	}
	if got := hex.EncodeToString(cur.sum.Sum(nil)); cur.want != "" && got != cur.want {
		return fmt.Errorf("inventory data file %s: MD5 %s, the manifest says %s (a partial or replaced file?)", cur.key, got, cur.want)
	}
	return nil
}

func (inv *inventory) lineError(format string, a ...any) error {
	return &scan.LineError{File: inv.cur.key, Line: inv.cur.line, Msg: fmt.Sprintf(format, a...)}
}

// entry turns one row into a key; keep is false for rows that are no
// current object.
func (inv *inventory) entry(rec []string) (e scan.KeyEntry, keep bool, err error) {
	col := func(name string) string {
		if i, ok := inv.cols[name]; ok {
			return rec[i]
		}
		return ""
	}
	if col("IsDeleteMarker") == "true" || col("IsLatest") == "false" {
		return e, false, nil
	}
	key, err := url.QueryUnescape(col("Key")) // S3 writes keys URL-encoded
	if err != nil || key == "" {
		return e, false, inv.lineError("key %q is not URL-encoded", col("Key"))
	}
	e = scan.KeyEntry{Key: key, Size: -1, Line: inv.cur.line}
	if s := col("Size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return e, false, inv.lineError("size %q is not a non-negative integer", s)
		}
		e.Size = n
	}
	// The ETag column is not taken as an MD5: it is none for SSE-KMS and
	// SSE-C objects, and a wrong MD5 would fail every copy.
	return e, true, nil
}
