package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ncp-sso/idp/idp/config"
	"github.com/ncp-sso/idp/ldapauth"
)

// stdin is where --password-stdin reads; tests replace it.
var ldapTestStdin io.Reader = os.Stdin

func cmdLDAP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			args = []string{"test", "--help"}
		} else {
			fmt.Fprintln(stderr, "Usage: idp ldap test --config FILE [--user NAME] [--password-stdin]")
			return 2
		}
	}
	fs := flag.NewFlagSet("ldap test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML configuration file (required)")
	user := fs.String("user", "", "a login name to look up exactly as a user would type it")
	pwStdin := fs.Bool("password-stdin", false, "read the user's password from the first line of standard input and try the bind")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: idp ldap test --config FILE [--user NAME] [--password-stdin]

Walks the path a login takes against the directory in ldap: and prints each
step with its timing: which server and TLS certificate (subject, issuer,
expiry, verification), the service-account bind, the rendered search filter
and the entries found, the mapped identity and groups and, with a password,
the user bind with Active Directory's sub-code explained in Korean and
English, ending with the value sent to the SP. The user bind goes through
the login throttle's per-account count in the state store like a login (a
throttled account is not bound); a store held by the running IdP (bolt) is
not consulted, and the output says so. A failing step says what to
change. Exit status 0 when every step passed, 1 otherwise.

  read -rs PW; echo "$PW" | idp ldap test --config /etc/idp/idp.yaml --user alice --password-stdin

Flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return flagExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "idp ldap test: --config FILE is required")
		return 2
	}
	if *pwStdin && *user == "" {
		fmt.Fprintln(stderr, "idp ldap test: --password-stdin needs --user NAME")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stdout, "✗ %s: %v\n  fix: run 'idp config --config %s' for every problem\n", *path, err, *path)
		return 1
	}
	var password string
	if *pwStdin {
		line, err := bufio.NewReader(ldapTestStdin).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintf(stderr, "idp ldap test: read password: %v\n", err)
			return 2
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			fmt.Fprintln(stderr, "idp ldap test: the password on standard input is empty")
			return 2
		}
	}
	auth, err := ldapauth.New(cfg.LDAP, ldapauth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Fprintf(stdout, "✗ %v\n", err)
		return 1
	}
	defer auth.Close()
	if password != "" {
		// The bind counts like a login attempt, per directory entry.
		note, closeStore := ldapTestThrottle(cfg, auth)
		defer closeStore()
		if note != "" {
			fmt.Fprintf(stdout, "• throttle: %s\n", note)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ok := auth.Diagnose(ctx, *user, password, func(st ldapauth.Step) {
		mark := "✓"
		if !st.OK {
			mark = "✗"
		}
		fmt.Fprintf(stdout, "%s %-12s %6s\n", mark, st.Name, fmtDuration(st.Duration))
		for _, d := range st.Detail {
			fmt.Fprintf(stdout, "    %s\n", d)
		}
		if st.Fix != "" {
			fmt.Fprintf(stdout, "    fix: %s\n", st.Fix)
		}
	})
	if !ok {
		fmt.Fprintln(stdout, "✗ the login path has a problem (see fix: above)")
		return 1
	}
	if *user == "" {
		fmt.Fprintln(stdout, "✓ the directory answers; add --user NAME to try a user")
	} else {
		fmt.Fprintln(stdout, "✓ every step passed")
	}
	return 0
}

func fmtDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
