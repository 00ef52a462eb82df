package devserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/lib/pq"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// postgresStores are the two SQL stores of a server on PostgreSQL: its
// state in the URL's database and visibility in "<database>_visibility",
// each created and brought to the current schema when needed.
func postgresStores(rawURL string) (main, visibility *config.SQL, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, nil, errors.New("temporal database: want postgres://user[:password]@host:port/database")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "temporal"
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	base := config.SQL{
		PluginName:      pgplugin.PluginName,
		ConnectAddr:     net.JoinHostPort(host, port),
		ConnectProtocol: "tcp",
		User:            u.User.Username(),
		MaxConns:        20,
		MaxIdleConns:    20,
	}
	base.Password, _ = u.User.Password()
	if base.User == "" {
		base.User = "postgres"
	}
	if mode := u.Query().Get("sslmode"); mode != "" && mode != "disable" {
		return nil, nil, fmt.Errorf("temporal database %s: the embedded server connects without TLS (sslmode=disable)", u.Redacted())
	}
	main, visibility = ptr(base), ptr(base)
	main.DatabaseName, visibility.DatabaseName = db, db+"_visibility"
	for _, s := range []struct {
		conf   *config.SQL
		schema string
	}{{main, "postgresql/v12/temporal"}, {visibility, "postgresql/v12/visibility"}} {
		if err := migratePostgres(s.conf, s.schema); err != nil {
			return nil, nil, fmt.Errorf("temporal database %s: %w", s.conf.DatabaseName, err)
		}
	}
	return main, visibility, nil
}

func ptr[T any](v T) *T { return &v }

// migratePostgres creates the database if missing and applies the schema
// versions it lacks, as temporal-sql-tool's create-database, setup-schema
// and update-schema would.
func migratePostgres(conf *config.SQL, schemaName string) error {
	logger := log.NewNoopLogger()
	admin := *conf
	if err := sqltool.DoCreateDatabase(&admin, "postgres", logger); err != nil && !duplicateDatabase(err) {
		return fmt.Errorf("create database: %w", err)
	}
	conn, err := sqltool.NewConnection(conf, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Setting up a database that has a version would reset it to 0.0.
	if _, err := conn.ReadSchemaVersion(); err != nil {
		if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
			return fmt.Errorf("set up schema: %w", err)
		}
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("update schema: %w", err)
	}
	return nil
}

// duplicateDatabase tells "database already exists" (42P04) by its code,
// or by its English text where the driver does not keep the code.
func duplicateDatabase(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42P04" || strings.Contains(err.Error(), "already exists")
}
