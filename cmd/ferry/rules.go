package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const rulesHelp = `Back-to-origin rules live in the config file under the top-level "rules:" key,
as an ordered list of at most 5 rules; the first rule whose key_prefix and
key_suffix both match a missing key wins. The editing commands (add, edit,
remove, move, clear, import) rewrite only the rules: section of the file and
keep every other key and comment as it was; invalid input leaves the file
unchanged. Without a config file, add and import create ./ferry.yaml (or the
--config file). The full reference is docs/rules.md.

` + exitCodesHelp

// rulesCmd carries what the rules subcommands share.
type rulesCmd struct {
	a *app
	// newFile is the --config file that does not exist yet, for the
	// commands that may create it (add, import).
	newFile string
}

func newRulesCmd(a *app) *cobra.Command {
	rc := &rulesCmd{a: a}
	c := &cobra.Command{
		Use:   "rules",
		Short: "List, edit, validate, test, import and export the back-to-origin rules",
		Long:  rulesHelp,
		Args:  noArgs,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return rc.load(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	c.AddCommand(
		rc.listCmd(),
		rc.addCmd(),
		rc.editCmd(),
		rc.removeCmd(),
		rc.moveCmd(),
		rc.clearCmd(),
		rc.validateCmd(),
		rc.testCmd(),
		rc.exportCmd(),
		rc.importCmd(),
	)
	return c
}

// load decodes the configuration. A --config file that does not exist yet
// is allowed for the commands that create it: the run then uses defaults,
// environment and flags, and the file is written on success.
func (rc *rulesCmd) load(cmd *cobra.Command) error {
	a := rc.a
	if a.configFlag != "" && cmd.Annotations["creates-config"] == "true" {
		if _, err := os.Stat(a.configFlag); errors.Is(err, fs.ErrNotExist) {
			want := a.configFlag
			a.configFlag = os.DevNull // an empty config file: defaults, environment, flags
			err := a.load(cmd)
			a.configFlag = want
			if err != nil {
				return err
			}
			a.cfg.File = ""
			rc.newFile = want
			return nil
		}
	}
	return a.load(cmd)
}

// source is where the rules in effect live (rules.Source), with the
// config file add and import create when there is none.
func (rc *rulesCmd) source() rules.Source {
	src := rulesSource(rc.a)
	src.NewFile = rc.newFile
	return src
}

func rulesSource(a *app) rules.Source {
	return rules.Source{ConfigFile: a.cfg.File, RulesFile: a.cfg.RulesFile, Self: selfAddrs(a), Redact: store.Redact}
}

// loadRules reads the rules in effect (rules.Source.Load; errors are a
// *rules.Error naming file and line: exit 2).
func loadRules(a *app) (*rules.Set, error) {
	if a.cfg == nil {
		return &rules.Set{}, nil
	}
	return rulesSource(a).Load()
}

// clearRules removes every rule in effect (rules clear, finalize
// --remove-rules), keeping a backup in the state directory.
func clearRules(a *app) (done, backup string, err error) {
	return rulesSource(a).Clear(a.cfg.StateDir)
}

// checkRulesWritable refuses finalize --remove-rules before any work when
// the rules could not be removed at the end.
func checkRulesWritable(a *app) error {
	if err := rulesSource(a).CheckClearable(); err != nil {
		return usagef("--remove-rules: %w", err)
	}
	return nil
}

// selfAddrs is where ferry itself answers, for rules.CheckLoop: the target
// bucket and serve's listen address.
func selfAddrs(a *app) []string {
	return []string{a.cfg.Target, a.cfg.Serve.Listen}
}

func (rc *rulesCmd) warn(ws []string) {
	for _, w := range ws {
		fmt.Fprintf(rc.a.stderr, "ferry: warning: %s\n", w)
	}
}

// done prints the warnings of the rules now in effect and what a command
// did.
func (rc *rulesCmd) done(set *rules.Set, done string, err error) error {
	if err != nil {
		return err
	}
	if set != nil {
		rc.warn(set.Warnings)
	}
	fmt.Fprintln(rc.a.stdout, done)
	return nil
}

// --- list ---

func (rc *rulesCmd) listCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "Print the rules in order as a table (or --json)",
		Long:  "Print the rules in the order they are matched.\n\n" + exitCodesHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := loadRules(rc.a)
			if err != nil {
				return err
			}
			rc.warn(set.Warnings)
			return rc.source().WriteList(rc.a.stdout, set, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the rules as a JSON array")
	return c
}

// --- add and edit ---

// ruleFlags are the flags of add and edit, one per rule field.
type ruleFlags struct {
	name, keyPrefix, keySuffix, replacePrefix, replaceKey     string
	passQuery, followRedirects, mirrorHead, passAll, store    bool
	origins, originHosts, failoverOn, whenHeaders, passStatus []string
	pass, remove, set                                         []string
}

func (f *ruleFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "optional rule name (unique)")
	fs.StringVar(&f.keyPrefix, "key-prefix", "", "match keys that start with this prefix")
	fs.StringVar(&f.keySuffix, "key-suffix", "", "match keys that end with this suffix")
	fs.StringArrayVar(&f.whenHeaders, "when-header", nil, `match only requests with this header "Name: value" (repeatable, all must hold; an empty value clears the list)`)
	fs.StringArrayVar(&f.origins, "origin", nil, "http(s)://host[:port][/path/] or a bucket URL (s3://bucket/prefix?endpoint=...); repeat it for failover origins, tried in order")
	fs.StringArrayVar(&f.originHosts, "origin-host", nil, "the Host header for the origin at the same position (repeatable, one per --origin; an empty value for none)")
	fs.StringSliceVar(&f.failoverOn, "failover-on", nil, "when to try the next origin: network, timeout, 4xx, 5xx or a status (comma-separated or repeated; default network,timeout,5xx; an empty value restores it)")
	fs.StringVar(&f.replacePrefix, "replace-key-prefix-with", "", "fetch the key with its key-prefix replaced by this")
	fs.StringVar(&f.replaceKey, "replace-key-with", "", "fetch this key instead (${key} is the requested key)")
	fs.BoolVar(&f.passQuery, "pass-query-string", false, "forward the client's query string to the origin")
	fs.BoolVar(&f.followRedirects, "follow-redirects", true, "follow origin redirects (at most 10) and store the final object")
	fs.BoolVar(&f.mirrorHead, "mirror-head", true, "answer HEAD on a missing key from the origin's HEAD")
	fs.StringSliceVar(&f.passStatus, "pass-status", nil, "pass origin answers with this status (400-599 but 404) to the client, unstored (repeatable; an empty value clears the list)")
	fs.BoolVar(&f.store, "store", true, "store what the origin answers (--store=false: stream it to the client only)")
	fs.BoolVar(&f.passAll, "pass-all-headers", false, "forward every client header (except those never forwarded)")
	fs.StringArrayVar(&f.pass, "pass-header", nil, "forward this client header (repeatable; an empty value clears the list)")
	fs.StringArrayVar(&f.remove, "remove-header", nil, "do not forward this header (repeatable; an empty value clears the list)")
	fs.StringArrayVar(&f.set, "set-header", nil, `send "Name: value" to the origin (repeatable, in order; an empty value clears the list)`)
}

// patch is the change the flags given make to a rule (rules.Patch).
func (f *ruleFlags) patch(fs *pflag.FlagSet) rules.Patch {
	var p rules.Patch
	str := func(flag string, v *string) *string { return ifChanged(fs, flag, v) }
	boo := func(flag string, v *bool) *bool { return ifChanged(fs, flag, v) }
	list := func(flag string, v *[]string) *[]string { return ifChanged(fs, flag, v) }
	p.Name, p.KeyPrefix, p.KeySuffix = str("name", &f.name), str("key-prefix", &f.keyPrefix), str("key-suffix", &f.keySuffix)
	p.ReplaceKeyPrefixWith, p.ReplaceKeyWith = str("replace-key-prefix-with", &f.replacePrefix), str("replace-key-with", &f.replaceKey)
	p.PassQueryString, p.FollowRedirects = boo("pass-query-string", &f.passQuery), boo("follow-redirects", &f.followRedirects)
	p.MirrorHead, p.Store, p.PassAllHeaders = boo("mirror-head", &f.mirrorHead), boo("store", &f.store), boo("pass-all-headers", &f.passAll)
	p.Origins, p.OriginHosts = list("origin", &f.origins), list("origin-host", &f.originHosts)
	p.FailoverOn, p.PassStatus = list("failover-on", &f.failoverOn), list("pass-status", &f.passStatus)
	p.PassHeaders, p.RemoveHeaders = list("pass-header", &f.pass), list("remove-header", &f.remove)
	p.SetHeaders, p.WhenHeaders = list("set-header", &f.set), list("when-header", &f.whenHeaders)
	return p
}

// ifChanged is v when the flag was given, else nil.
func ifChanged[T any](fs *pflag.FlagSet, flag string, v *T) *T {
	if fs.Changed(flag) {
		return v
	}
	return nil
}

func (rc *rulesCmd) addCmd() *cobra.Command {
	var f ruleFlags
	var position int
	c := &cobra.Command{
		Use:   "add --origin URL [flags]",
		Short: "Add a rule (at the end, or at --position)",
		Long: `Add a rule to the config file (created when there is none). At most 5 rules
are allowed; a 6th is refused and the file is left unchanged.

Examples:
  ferry rules add --origin http://www.example-domain.com/dir1/ --key-prefix image/
  ferry rules add --origin http://203.0.113.7/ --set-header "Host: www.example.com"
  ferry rules add --origin "s3://old-bucket/?endpoint=https://oss.example.com" --key-suffix .jpg
  ferry rules add --origin http://203.0.113.7/ --origin https://backup.example.com/ \
      --origin-host www.example.com --failover-on network,timeout,5xx,404
  ferry rules add --origin http://old.example.com/ --when-header "X-Client: a" --pass-status 403 --store=false

` + exitCodesHelp,
		Args:        noArgs,
		Annotations: map[string]string{"creates-config": "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("origin") {
				return usagef("rules add: --origin is required")
			}
			return rc.done(rc.source().Add(f.patch(cmd.Flags()), ifChanged(cmd.Flags(), "position", &position)))
		},
	}
	f.register(c.Flags())
	c.Flags().IntVar(&position, "position", 0, "insert as rule N (1-based; default: last)")
	return c
}

func (rc *rulesCmd) editCmd() *cobra.Command {
	var f ruleFlags
	c := &cobra.Command{
		Use:   "edit N [flags]",
		Short: "Change fields of rule N (only the flags given)",
		Long: `Change the fields of rule N whose flags are given; the others keep their
values. A list flag (--origin, --when-header, --failover-on, --pass-status,
--pass-header, --remove-header, --set-header) replaces the whole list; give it
an empty value to clear the list. --origin-host alone sets the Host of the
existing origins, by position.

Example:
  ferry rules edit 2 --origin https://new.example.com/ --follow-redirects=false

` + exitCodesHelp,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rc.done(rc.source().Change(args[0], f.patch(cmd.Flags())))
		},
	}
	f.register(c.Flags())
	return c
}

// --- remove, move ---

func (rc *rulesCmd) removeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove N",
		Short: "Remove rule N",
		Long:  "Remove rule N (see ferry rules list); the rules after it move up.\n\n" + exitCodesHelp,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			done, err := rc.source().RemoveRule(args[0])
			return rc.done(nil, done, err)
		},
	}
}

func (rc *rulesCmd) moveCmd() *cobra.Command {
	var to int
	c := &cobra.Command{
		Use:   "move N --to M",
		Short: "Move rule N to position M (rules are matched in order)",
		Long:  "Move rule N so that it becomes rule M; the rules in between shift by one.\n\n" + exitCodesHelp,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("to") {
				return usagef("rules move: --to M is required")
			}
			done, err := rc.source().MoveRule(args[0], to)
			return rc.done(nil, done, err)
		},
	}
	c.Flags().IntVar(&to, "to", 0, "the new position (1-based)")
	return c
}

// --- clear ---

func (rc *rulesCmd) clearCmd() *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "clear",
		Short: "Remove every rule (asks first unless --yes; keeps a backup)",
		Long: `Remove every rule from the config file, after the migration is complete
(ferry finalize). Asks for confirmation on stdin unless --yes. The removed
rules: section is saved first to <state_dir>/rules-backup-<time>.yaml, whose
path is printed; copy it back into the config file to restore the rules.
A running serve picks the change up without a restart.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			confirm := rc.confirm
			if yes {
				confirm = nil
			}
			done, err := rc.source().ClearAll(rc.a.cfg.StateDir, confirm)
			return rc.done(nil, done, err)
		},
	}
	c.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return c
}

// confirm asks on stdin whether to remove the n rules of file.
func (rc *rulesCmd) confirm(n int, file string) error {
	fmt.Fprintf(rc.a.stderr, "Remove all %d rules from %s? Misses will then be answered 404. [y/N] ", n, file)
	line, _ := bufio.NewReader(rc.a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(rc.a.stderr)
	return usagef("rules clear: not confirmed, nothing changed (use --yes to skip the question)")
}
