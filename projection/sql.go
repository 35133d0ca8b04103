package projection

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/idemkit/idem/eventstore"
)

// SQL defines a projection whose read model lives in tables of a SQLite database.
//
// Each version has its own tables: the physical name of a logical table T is
// T_v<Version> (see Tx.Table). Readers must read through the view named T, which
// the runner points at the active version; they must never name T_vN themselves.
type SQL struct {
	// Name identifies the projection in the target database: its checkpoint, guard
	// rows and parked events are kept under it.
	Name string
	// Version is 1 or more. Deploying a higher version rebuilds the read model from
	// position zero beside the current one and switches readers to it once caught up.
	Version int
	// Tables are the logical names of the tables Setup creates (letters, digits and
	// underscores). The runner creates a view for each, switches them atomically, and
	// drops the physical tables when the version is retired.
	Tables []string
	// EventTypes and StreamPrefixes select the events the projection receives
	// (both empty: every event). They are passed to the store, which filters.
	EventTypes     []string
	StreamPrefixes []string
	// Setup creates the version's tables, once, when the version is first run. Write
	// {table} for each logical table: CREATE TABLE {invoices} (...).
	Setup func(ctx context.Context, tx *Tx) error
	// Handle applies one event to the read model, through tx only. It runs inside
	// the batch's transaction; returning an error rolls the batch back and the event
	// is retried (see Poison). It must not cause side effects outside tx: use a
	// Reactor for those.
	Handle func(ctx context.Context, tx *Tx, e Event) error
	// Poison says what happens when Handle keeps failing on an event: PoisonStop
	// (the default) or PoisonPark.
	Poison PoisonPolicy
}

// Event is an event delivered to a SQL projection, with the mode it is applied in.
type Event struct {
	eventstore.RecordedEvent
	Mode Mode
}

// PoisonPolicy says what a runner does with an event whose handler failed on every
// retry.
type PoisonPolicy uint8

const (
	// PoisonStop stops the projection with a *HandlerError naming the event; Run
	// returns it. Nothing after the event is applied. This is the default.
	PoisonStop PoisonPolicy = iota
	// PoisonPark records the event in the parked-events table (in the same
	// transaction as the checkpoint and guard moving past it) and goes on. Parked
	// events can be listed and re-run (Runner.Parked, Runner.RetryParked).
	PoisonPark
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p SQL) validate() error {
	bad := func(reason string) error {
		return fmt.Errorf("projection %q v%d: %w: %s", p.Name, p.Version, ErrInvalidProjection, reason)
	}
	switch {
	case p.Name == "":
		return bad("empty name")
	case p.Version < 1:
		return bad("version must be 1 or more")
	case p.Handle == nil:
		return bad("no Handle function")
	case p.Setup == nil:
		return bad("no Setup function")
	case len(p.Tables) == 0:
		return bad("no Tables")
	case p.Poison > PoisonPark:
		return bad("unknown poison policy")
	}
	seen := map[string]bool{}
	for _, t := range p.Tables {
		if !identifier.MatchString(t) || strings.HasPrefix(strings.ToLower(t), "idem_") || strings.HasPrefix(strings.ToLower(t), "sqlite_") {
			return bad(fmt.Sprintf("table name %q must be letters, digits and underscores, not starting with idem_ or sqlite_", t))
		}
		if seen[t] {
			return bad(fmt.Sprintf("table %q listed twice", t))
		}
		seen[t] = true
	}
	return nil
}

func (p SQL) readOptions() []eventstore.ReadOption {
	var opts []eventstore.ReadOption
	if len(p.EventTypes) > 0 {
		opts = append(opts, eventstore.EventTypes(p.EventTypes...))
	}
	if len(p.StreamPrefixes) > 0 {
		opts = append(opts, eventstore.StreamPrefix(p.StreamPrefixes...))
	}
	return opts
}

// PhysicalTable is the name of the table holding logical table t for a version:
// t_v<version>. Readers should use the view named t instead.
func PhysicalTable(t string, version int) string { return fmt.Sprintf("%s_v%d", t, version) }

// tables resolves the logical table names of one projection version, and expands
// {table} in queries, with a cache (queries are usually constants).
type tables struct {
	version  int
	physical map[string]string
	cache    sync.Map // query -> expanded query
}

func newTables(p SQL) *tables {
	t := &tables{version: p.Version, physical: make(map[string]string, len(p.Tables))}
	for _, name := range p.Tables {
		t.physical[name] = PhysicalTable(name, p.Version)
	}
	return t
}

// expand replaces {t} with the physical name of t for every declared table t; any
// other brace is left alone.
func (t *tables) expand(query string) string {
	if !strings.Contains(query, "{") {
		return query
	}
	if q, ok := t.cache.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	rest := query
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			b.WriteString(rest)
			break
		}
		if phys, ok := t.physical[rest[i+1:i+j]]; ok {
			b.WriteString(rest[:i])
			b.WriteString(phys)
		} else {
			b.WriteString(rest[:i+j+1])
		}
		rest = rest[i+j+1:]
	}
	out := b.String()
	t.cache.Store(query, out)
	return out
}
