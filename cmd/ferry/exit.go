package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-migrate/ferry/internal/cliconf"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/scan"
	"github.com/spf13/cobra"
)

// Exit codes, documented in every command's help.
const (
	exitOK          = 0   // done
	exitFatal       = 1   // fatal error: nothing more could be done
	exitUsage       = 2   // usage, configuration or rules error
	exitIncomplete  = 3   // finished, but some keys failed or are missing
	exitInterrupted = 130 // SIGINT/SIGTERM
)

const exitCodesHelp = `Exit codes: 0 done, 1 fatal error, 2 usage/config/rules error,
3 finished with failed or missing keys, 130 interrupted.`

// usageError marks bad flags or arguments that cmd itself finds (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef is a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// asUsage marks an error cmd made about its flags as a usage error. Errors
// of the domain packages are never wrapped: exitCode knows their types.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitCode is the one place that maps an outcome to an exit code, from the
// types of the errors: cmd's usage and configuration errors, the rules
// package's parse and validation errors, bad arguments and refused keys,
// scan's bad options and key-list lines are usage errors (2); an interrupt
// is 130; an incomplete run (scan.IncompleteError) 3; anything else is
// fatal (1).
func exitCode(ctx context.Context, err error) int {
	var (
		ue usageError
		ce *cliconf.Error
		re *rules.Error
		ri *rules.InputError
		le *scan.LineError
		oe *scan.OptionError
		ie *scan.IncompleteError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &re), errors.As(err, &ri), errors.As(err, &le),
		errors.As(err, &oe), errors.Is(err, rules.ErrKeyRefused):
		return exitUsage
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())):
		return exitInterrupted
	case errors.As(err, &ie):
		return exitIncomplete
	default:
		return exitFatal
	}
}

// usageArgs wraps a cobra argument validator so its errors exit 2.
func usageArgs(f cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// noArgs refuses arguments; for a command with subcommands an argument is a
// mistyped subcommand, answered with the closest name (rules.Suggest, the
// same helper as for config keys).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !cmd.HasAvailableSubCommands() {
		return usagef("%s takes no arguments (got %q)", cmd.CommandPath(), args[0])
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
			names = append(names, c.Aliases...)
		}
	}
	hint := ""
	if s := rules.Suggest(args[0], names); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usagef("unknown command %q for %q%s; see %s --help", args[0], cmd.CommandPath(), hint, cmd.CommandPath())
}
