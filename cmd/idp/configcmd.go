package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ncp-sso/idp/idp"
	"github.com/ncp-sso/idp/idp/config"
)

func cmdConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML configuration file (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp config --config FILE

Checks a configuration file without starting anything: unknown keys, missing
values, bad URLs, unreadable files and secrets. Every problem is listed with
its key path and what to do. Exit status 0 when the file is valid, 1 if not.

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "idp config: --config FILE is required")
		return 2
	}
	if _, err := config.Load(*path); err != nil {
		var ps idp.Problems
		if errors.As(err, &ps) {
			fmt.Fprintf(stdout, "✗ %s has %d problem(s):\n", *path, len(ps))
			for _, p := range ps {
				fmt.Fprintf(stdout, "  ✗ %s: %s\n", p.Key, p.Msg)
			}
			return 1
		}
		fmt.Fprintf(stdout, "✗ %s: %v\n", *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "✓ %s is valid\n", *path)
	return 0
}
