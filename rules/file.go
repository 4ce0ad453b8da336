package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ReadFile reads the rules: section of the YAML file at path: an empty Set
// when the file has no rules: section. A missing file is an error wrapping
// fs.ErrNotExist; a parse error is an *Error wrapped with the file name.
func ReadFile(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, pathErr(err))
	}
	set, err := ParseConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return set, nil
}

// EditFile reads the rules of the YAML file at path (which may not exist
// yet: it is created), lets change compute the new list, validates it with
// NewSet and check (nil: no extra check) and writes the file back with only
// its rules: section replaced, atomically. It refuses to write when the file
// changed since it was read (optimistic locking). Any error leaves the file
// as it was.
func EditFile(path string, change func([]Rule) ([]Rule, error), check func(*Set) error) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config file %s: %w", path, pathErr(err))
	}
	old, err := ParseConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	rs, err := change(old.Rules)
	if err != nil {
		return nil, err
	}
	set, err := NewSet(rs)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(set); err != nil {
			return nil, err
		}
	}
	out, _, err := Replace(path, data, set.Rules)
	if err != nil {
		return nil, err
	}
	if data == nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := unchangedSince(path, data); err != nil {
		return nil, err
	}
	if err := CheckWritable(path); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(path, out); err != nil {
		return nil, err
	}
	return set, nil
}

// ClearFile removes every rule from the YAML file at path, after saving the
// removed rules: section to backupDir/rules-backup-<time>.yaml (never
// overwriting an earlier backup). It returns the backup path and the number
// of rules removed; a file without rules is left alone ("", 0, nil).
func ClearFile(path, backupDir string) (backup string, removed int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, fmt.Errorf("config file %s: %w", path, pathErr(err))
	}
	set, err := ParseConfig(bytes.NewReader(data))
	if err != nil {
		return "", 0, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(set.Rules) == 0 {
		return "", 0, nil
	}
	out, section, err := Replace(path, data, nil)
	if err != nil {
		return "", 0, err
	}
	if err := unchangedSince(path, data); err != nil {
		return "", 0, err
	}
	if err := CheckWritable(path); err != nil {
		return "", 0, err
	}
	backup, err = writeBackup(backupDir, path, section)
	if err != nil {
		return "", 0, err
	}
	if err := WriteFileAtomic(path, out); err != nil {
		os.Remove(backup)
		return "", 0, err
	}
	return backup, len(set.Rules), nil
}

// CheckWritable reports whether the file at path (or, when it does not exist,
// the directory it would be created in) can be replaced by WriteFileAtomic, which writes a temp file
// next to it: a read-only mount (a Kubernetes ConfigMap) or directory fails
// here before anything is done, and so does a file without any write
// permission (mode 0444), even for root.
func CheckWritable(path string) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o222 == 0 {
		return fmt.Errorf("%s is read-only (mode %v)", path, st.Mode().Perm())
	}
	dir := filepath.Dir(path)
	for { // a directory that does not exist yet is created in the first one that does
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".probe-*")
	if err != nil {
		return fmt.Errorf("%s cannot be rewritten: %w", path, pathErr(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// pathErr drops the *fs.PathError around err, whose path the message
// already names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unchangedSince refuses to write file when someone else changed it since
// it was read as data (nil: it did not exist), so concurrent edits are not
// lost silently.
func unchangedSince(file string, data []byte) error {
	now, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config file %s: %w", file, pathErr(err))
	}
	if (err == nil) != (data != nil) || !bytes.Equal(now, data) {
		return fmt.Errorf("config file %s changed while the rules were being edited: nothing written, run the command again", file)
	}
	return nil
}

// writeBackup saves a removed rules: section under dir, never overwriting an
// earlier backup.
func writeBackup(dir, file string, section []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("rules backup: %w", err)
	}
	now := time.Now().UTC()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# rules removed from %s at %s by ferry rules clear.\n", file, now.Format(time.RFC3339))
	b.WriteString("# To restore them, copy the rules: section below back into the config file.\n")
	b.Write(section)
	if len(section) > 0 && section[len(section)-1] != '\n' {
		b.WriteByte('\n')
	}
	base := filepath.Join(dir, "rules-backup-"+now.Format("20060102T150405Z"))
	for i := 0; ; i++ {
		name := base + ".yaml"
		if i > 0 {
			name = fmt.Sprintf("%s-%d.yaml", base, i)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("rules backup: %w", err)
		}
		_, err = f.Write(b.Bytes())
		if err2 := f.Sync(); err == nil {
			err = err2
		}
		if err2 := f.Close(); err == nil {
			err = err2
		}
		if err != nil {
			os.Remove(name)
			return "", fmt.Errorf("rules backup: %w", err)
		}
		return name, nil
	}
}

// Replace returns data (the YAML file named file) with its rules: section
// replaced by rs, and the text of the section it replaced. Every other byte
// of the file is kept: the lines of the rules: entry are spliced out and the
// new section is spliced in. When the file's layout does not allow that (a
// flow-style or indented top-level mapping), the YAML tree is re-encoded
// instead. Either way the result is checked: its rules must read back as rs
// and every other key must be unchanged. A layout that cannot be rewritten
// is an *Error.
func Replace(file string, data []byte, rs []Rule) (out, section []byte, err error) {
	text, err := MarshalConfig(rs)
	if err != nil {
		return nil, nil, err
	}
	out, section, err = spliceRules(data, text)
	if err == nil {
		err = checkReplaced(data, out, rs)
	}
	if err != nil {
		var err2 error
		out, section, err2 = reencodeRules(data, rs)
		if err2 != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", file, &Error{Msg: "cannot rewrite the rules: section: " + err.Error()})
		}
		if err2 = checkReplaced(data, out, rs); err2 != nil {
			return nil, nil, fmt.Errorf("config file %s: cannot rewrite the rules: section safely: %v", file, err2)
		}
	}
	return out, section, nil
}

var errNoSplice = errors.New("the layout does not allow a splice")

// spliceRules replaces the lines of the top-level rules: entry of data by
// text (appending it when there is none).
func spliceRules(data, text []byte) (out, section []byte, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	crlf := bytes.Contains(data, []byte("\r\n"))
	if crlf {
		text = bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))
	}
	if len(doc.Content) == 0 {
		return appendSection(data, text, crlf), nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && strings.TrimSpace(root.Value) == "" {
			return appendSection(data, text, crlf), nil, nil
		}
		return nil, nil, errors.New("the top level of the file is not a mapping of keys")
	}
	if root.Style&yaml.FlowStyle != 0 || root.Column != 1 {
		return nil, nil, errNoSplice
	}
	idx := -1
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" {
			idx = i
		}
	}
	if idx < 0 {
		return appendSection(data, text, crlf), nil, nil
	}
	if root.Content[idx].Column != 1 {
		return nil, nil, errNoSplice
	}
	return spliceAt(data, text, root, idx)
}

// appendSection adds text at the end of data, after a line break.
func appendSection(data, text []byte, crlf bool) []byte {
	out := append([]byte(nil), data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		if crlf {
			out = append(out, '\r')
		}
		out = append(out, '\n')
	}
	return append(out, text...)
}

// spliceAt replaces the lines of the entry root.Content[idx] (the rules: key)
// and its value by text.
func spliceAt(data, text []byte, root *yaml.Node, idx int) (out, section []byte, err error) {
	key := root.Content[idx]
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := key.Line - 1
	end := len(lines)
	if idx+2 < len(root.Content) {
		end = root.Content[idx+2].Line - 1
	}
	for i := start + 1; i < end; i++ {
		if bytes.HasPrefix(lines[i], []byte("---")) || bytes.HasPrefix(lines[i], []byte("...")) {
			end = i
		}
	}
	// Comments and blank lines right before the next key belong to it.
	for end > start+1 {
		t := bytes.TrimSpace(lines[end-1])
		if len(t) != 0 && t[0] != '#' {
			break
		}
		end--
	}
	if start < 0 || start >= len(lines) || end <= start {
		return nil, nil, errNoSplice
	}
	comment := key.LineComment
	if val := root.Content[idx+1]; comment == "" && val.Line == key.Line && val.Kind != yaml.MappingNode {
		comment = val.LineComment // "rules: [] # mine"
	}
	if comment != "" {
		i := bytes.IndexAny(text, "\r\n")
		text = append(append(append([]byte(nil), text[:i]...), []byte(" "+comment)...), text[i:]...)
	}
	section = bytes.Join(lines[start:end], nil)
	if !bytes.HasSuffix(section, []byte("\n")) {
		// The section was the end of a file without a final newline.
		text = bytes.TrimRight(text, "\r\n")
	}
	var b bytes.Buffer
	b.Write(bytes.Join(lines[:start], nil))
	b.Write(text)
	b.Write(bytes.Join(lines[end:], nil))
	return b.Bytes(), section, nil
}

// reencodeRules replaces the rules node in the YAML tree and encodes the
// whole document again (comments are kept by the encoder; layout may not be).
func reencodeRules(data []byte, rs []Rule) (out, section []byte, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, errors.New("the top level of the file is not a mapping of keys")
	}
	root := doc.Content[0]
	root.Style = 0
	key, val := RulesNode(root)
	if key == nil {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "rules"}, Node(rs))
	} else {
		old := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{key, val}}
		if section, err = encodeYAML(old); err != nil {
			return nil, nil, err
		}
		*val = *Node(rs)
	}
	out, err = encodeYAML(&doc)
	return out, section, err
}

// encodeYAML writes n as YAML with two-space indentation.
func encodeYAML(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// checkReplaced verifies a rewritten file: its rules are exactly rs, and
// every other key decodes as before (so a configuration that was valid stays
// valid and means the same).
func checkReplaced(before, after []byte, rs []Rule) error {
	set, err := ParseConfig(bytes.NewReader(after))
	if err != nil {
		return err
	}
	if len(set.Rules) != len(rs) || (len(rs) > 0 && !reflect.DeepEqual(set.Rules, rs)) {
		return errors.New("the rules do not read back as written")
	}
	others := func(data []byte) (map[string]any, error) {
		m := map[string]any{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		delete(m, "rules")
		return m, nil
	}
	mb, err := others(before)
	if err != nil {
		return err
	}
	ma, err := others(after)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(mb, ma) {
		return errors.New("other keys would change")
	}
	return nil
}

// WriteFileAtomic replaces name with data through a temp file in the same
// directory and a rename, so readers (a running serve) see the old or the
// new file, never a partial one. A symlink is followed; the mode is kept.
func WriteFileAtomic(name string, data []byte) error {
	if real, err := filepath.EvalSymlinks(name); err == nil {
		name = real
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(name); err == nil {
		mode = st.Mode().Perm()
	}
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
