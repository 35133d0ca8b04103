package pgtarget

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/projection"
)

// PhysicalTable is the name of the table holding logical table t in a generation:
// t_g<generation>, in lower case (as PostgreSQL folds unquoted names). Readers
// read the view named t (in lower case) instead, which follows the active
// generation.
func PhysicalTable(t string, generation int) string {
	return strings.ToLower(t) + "_g" + strconv.Itoa(generation)
}

// viewName is the name readers read logical table t by.
func viewName(t string) string { return strings.ToLower(t) }

// qualified quotes schema.name for SQL.
func qualified(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }

// genKey names a generation in the target's cache of tables.
type genKey struct {
	name       string
	generation int
}

// tables resolves the logical table names of one generation and expands {table}
// in queries, with a cache (queries are usually constants).
type tables struct {
	schema     string
	generation int
	logical    []string
	physical   map[string]string // logical name -> quoted schema.physical
	cache      sync.Map          // query -> expanded query
}

// tablesOf returns the (cached) tables of g: a generation's tables never change.
func (t *Target) tablesOf(g projection.Generation) *tables {
	k := genKey{g.Name, g.Number}
	if v, ok := t.tables.Load(k); ok {
		if tb := v.(*tables); slices.Equal(tb.logical, g.Tables) {
			return tb
		}
	}
	tb := &tables{schema: t.schema, generation: g.Number, logical: slices.Clone(g.Tables), physical: make(map[string]string, len(g.Tables))}
	for _, name := range g.Tables {
		tb.physical[name] = qualified(t.schema, PhysicalTable(name, g.Number))
	}
	t.tables.Store(k, tb)
	return tb
}

// expand replaces {t} with the quoted, schema-qualified physical name of t for
// every table t of the generation; any other brace (a JSON or array literal) is
// left alone.
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
