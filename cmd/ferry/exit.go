package main

import (
	"context"
	"errors"

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

// usageError marks bad flags, arguments, configuration or rules (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// incompleteError marks a run that finished with failed or missing keys (exit 3).
type incompleteError struct{ err error }

func (e incompleteError) Error() string { return e.err.Error() }
func (e incompleteError) Unwrap() error { return e.err }

func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// exitCode is the one place that maps an outcome to an exit code.
func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var ie incompleteError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
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
		return asUsage(f(cmd, args))
	}
}
