package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
)

const apikeyUsage = `Usage:
  herald apikey create --name NAME --scopes read,write,events,admin [--expires-in 720h]
  herald apikey list
  herald apikey revoke ID

Works on the store directly (--database-url, HERALD_DATABASE_URL), so an
administrator can mint the first key or lock out a leaked one without the API.
`

// runAPIKey is the admin CLI for API keys.
func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(stderr, apikeyUsage)
		return errors.New("apikey: a subcommand is required")
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(stdout, apikeyUsage)
		return flag.ErrHelp
	}
	fs := newFlagSet("apikey "+args[0], stderr)
	dbURL := fs.String("database-url", "", "Herald's database: postgres://… or sqlite:<file>")
	name := fs.String("name", "", "create: what the key is for")
	scopes := fs.String("scopes", "", "create: comma-separated scopes (read, write, events, admin)")
	expiresIn := fs.Duration("expires-in", 0, "create: lifetime, e.g. 720h (default: no expiry)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("--database-url (HERALD_DATABASE_URL) is required")
	}
	// Keys are stored hashed, not sealed: any box opens the store for them.
	st, err := store.Open(ctx, *dbURL, secretbox.Ephemeral())
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "create":
		return createKey(ctx, st, stdout, *name, *scopes, *expiresIn)
	case "list":
		return listKeys(ctx, st, stdout)
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("apikey revoke: give the key's id (see herald apikey list)")
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("apikey revoke: %q is not a key id", fs.Arg(0))
		}
		if err := st.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "API key %d revoked\n", id)
		return nil
	}
	fmt.Fprint(stderr, apikeyUsage)
	return fmt.Errorf("apikey: unknown subcommand %q", args[0])
}

func createKey(ctx context.Context, st *store.Store, stdout io.Writer, name, scopeList string, expiresIn time.Duration) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("apikey create: --name is required")
	}
	scopes, err := apikey.ParseScopes(scopeList)
	if err != nil {
		return fmt.Errorf("apikey create: --scopes: %w", err)
	}
	var expires *time.Time
	if expiresIn > 0 {
		t := time.Now().Add(expiresIn)
		expires = &t
	}
	secret, k := apikey.New(name, scopes, expires)
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "API key %d %q (%s) created. It is shown once; keep it now:\n%s\n", k.ID, k.Name, scopeNames(k.Scopes), secret)
	return nil
}

func listKeys(ctx context.Context, st *store.Store, stdout io.Writer) error {
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tPREFIX\tSCOPES\tEXPIRES\tLAST USED\tSTATE")
	for _, k := range keys {
		state := "active"
		if why := k.Usable(time.Now()); why != "" {
			state = strings.TrimPrefix(why, "the API key ")
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, apikey.Prefix+k.KeyID, scopeNames(k.Scopes),
			timeOr(k.ExpiresAt, "never"), timeOr(k.LastUsedAt, "never"), state)
	}
	return w.Flush()
}

func scopeNames(scopes []apikey.Scope) string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return strings.Join(out, ",")
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

// devAdminKey makes sure `herald dev` has an admin key: on the first start
// it creates one, prints it and keeps it in the data directory (0600) so
// scripts can read it; later starts point to that file. An ephemeral run
// makes a new key each time.
func devAdminKey(ctx context.Context, st *store.Store, dataDir string) (secret, file string, created bool, err error) {
	if dataDir != "" {
		file = filepath.Join(dataDir, "admin.key")
		if b, err := os.ReadFile(file); err == nil {
			return strings.TrimSpace(string(b)), file, false, nil
		}
	}
	secret, k := apikey.New("herald dev admin", []apikey.Scope{apikey.Admin}, nil)
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return "", "", false, err
	}
	if file != "" {
		if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
			return "", "", false, err
		}
	}
	return secret, file, true, nil
}
