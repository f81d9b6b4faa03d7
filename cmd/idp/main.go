// Command idp is the company identity provider for NCP WORKPLACE and
// NAVER WORKS SSO. Run `idp help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it parses its own flags from args and returns
// the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is the CLI. Later subcommands register here.
var commands = map[string]command{
	"serve":    {"run the IdP from a configuration file", cmdServe},
	"demo":     {"run the IdP on an embedded demo directory (no setup)", cmdDemo},
	"check":    {"check the configuration and the live dependencies (LDAP, keys, certificates, store)", cmdCheck},
	"config":   {"validate a configuration file, listing every problem with its key and fix", cmdConfig},
	"console":  {"print the values to paste into the SP's Developers console", cmdConsole},
	"keygen":   {"generate the SAML signing key and the certificate for the SP console", cmdKeygen},
	"selftest": {"play each configured SP against a temporary IdP before switching SSO on", cmdSelftest},
	"version":  {"print the version", cmdVersion},
	"ldap":     {"test the directory settings: 'idp ldap test --config FILE --user NAME'", cmdLDAP},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "idp: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `idp — company login (LDAP / Active Directory) for NCP WORKPLACE and NAVER WORKS SSO

Usage:
  idp <command> [flags]

Commands:`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, `
Run 'idp <command> --help' for the flags of a command.
Start here: 'idp demo' runs everything locally with demo accounts.`)
}
