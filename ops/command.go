package ops

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// ErrInvalidOption: Command was given an option value it cannot use.
var ErrInvalidOption = errors.New("invalid ops option")

// Option configures Command.
type Option func(*config) error

// config is what Command was given, and the values of its global flags.
type config struct {
	name        string
	store, read string // the flags' defaults, then their values
	readSuffix  string // --read defaults to --store plus this, when set
	meter       metric.MeterProvider
	app         *app
	verbose     bool
}

// WithName sets the name of the command: "idem" by default; an application that
// mounts it under its own root names it after the verb it chooses ("ops").
func WithName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: WithName: empty name", ErrInvalidOption)
		}
		c.name = name
		return nil
	}
}

// WithStore sets the default of --store: the application's own store.
func WithStore(url string) Option {
	return func(c *config) error {
		c.store = url
		return nil
	}
}

// WithReadModel sets the default of --read: the application's read-model
// database.
func WithReadModel(path string) Option {
	return func(c *config) error {
		c.read = path
		return nil
	}
}

// WithReadModelBeside makes --read default to the --store path followed by suffix
// (".read": events.db.read), for applications that keep their read model beside
// their SQLite store.
func WithReadModelBeside(suffix string) Option {
	return func(c *config) error {
		if suffix == "" {
			return fmt.Errorf("%w: WithReadModelBeside: empty suffix", ErrInvalidOption)
		}
		c.readSuffix = suffix
		return nil
	}
}

// WithMeterProvider sets where the reconciliation metric goes
// (idem.projection.reconcile.mismatches); otel.GetMeterProvider() by default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return fmt.Errorf("%w: WithMeterProvider(nil)", ErrInvalidOption)
		}
		c.meter = mp
		return nil
	}
}

// Command returns the operations command. It holds the commands that need only
// the store and the read model's bookkeeping; WithProjections adds those that run
// the application's projections (rebuild, reconcile, parked retry). Run it with
// Execute, alone (cmd/idem) or mounted under the application's own root command.
func Command(opts ...Option) (*cobra.Command, error) {
	cfg := &config{name: "idem", meter: otel.GetMeterProvider()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(cfg); err != nil {
			return nil, err
		}
	}
	root := &cobra.Command{
		Use:   cfg.name,
		Short: "Inspect and operate an idem event store and its projections",
		Long: `Inspect and operate an idem event store and its read model: streams, the commands each
aggregate processed, projections and their parked events, reservation claims.

--store names the event store: a SQLite file (or sqlite:PATH, file:PATH), an
EventStoreDB / KurrentDB URL (esdb://host:2113?tls=false, kurrentdb://...), or a
PostgreSQL URL (postgres://user@host/db?schema=idem). --read names the read-model
database that holds the projections' tables and bookkeeping: a SQLite file, or a
PostgreSQL URL (postgres://user@host/db?schema=idem_read). schema= picks the schema
(idem for a store, idem_read for a read model by default).
Listings open both read-only and never change anything; every listing takes --json.

Exit status: 0 ok, 1 failure (or a mismatch found), 2 usage.`,
		Args:          usageArgs(cobra.NoArgs),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return usagef("no command given")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(flagError)
	flags := root.PersistentFlags()
	flags.StringVar(&cfg.store, "store", cfg.store, "event store: a SQLite path, or an esdb://, kurrentdb:// or postgres:// URL")
	flags.StringVar(&cfg.read, "read", cfg.read, "read-model database: a SQLite path or a postgres:// URL")
	flags.BoolVarP(&cfg.verbose, "verbose", "v", false, "log what the commands do, on standard error")
	root.AddCommand(streamsCommand(cfg), streamCommand(cfg), commandsCommand(cfg), commandCommand(cfg),
		projectionsCommand(cfg), parkedCommand(cfg), reservationsCommand(cfg))
	if cfg.app != nil {
		root.AddCommand(rebuildCommand(cfg), reconcileCommand(cfg))
	}
	return root, nil
}

// logger is where the commands and the runner log: warnings and errors only,
// everything with --verbose, on standard error.
func (c *config) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if c.verbose {
		level = slog.LevelInfo
	}
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime}))
}

// readPath is the read model's path: --read, or --store plus the suffix when
// --store is a path (a suffix makes no sense after a URL).
func (c *config) readPath() string {
	if c.read == "" && c.readSuffix != "" && c.store != "" && !strings.Contains(c.store, "://") {
		return c.store + c.readSuffix
	}
	return c.read
}
