// Command ferry migrates a live origin into an S3-compatible object store
// without downtime: scan copies the cold data, serve mirrors misses back from
// the origin during cutover, finalize verifies completeness.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one ferry invocation and returns its exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdin, stdout, stderr)
}

// runContext executes one invocation under ctx (the demo runs the real
// commands in-process this way).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	stopCPUProfile()
	code := exitCode(ctx, err)
	if err != nil && code != exitInterrupted {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
	} else if code == exitInterrupted {
		fmt.Fprintln(stderr, "ferry: interrupted")
	}
	return code
}
