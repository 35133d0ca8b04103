package sqlitetarget

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/idemkit/idem/projection"
)

// PhysicalTable is the name of the table holding logical table t in a generation:
// t_g<generation>. Readers read the view named t instead, which follows the
// active generation.
func PhysicalTable(t string, generation int) string { return t + "_g" + strconv.Itoa(generation) }

// quoteIdent quotes a name for SQL. Names are checked by projection.ValidTable
// (letters, digits, underscores) before they get here; quoting keeps keywords
// usable as table names.
func quoteIdent(name string) string { return `"` + name + `"` }

// genKey names a generation in the target's cache of tables.
type genKey struct {
	name       string
	generation int
}

// tables resolves the logical table names of one generation and expands {table}
// in queries, with a cache (queries are usually constants).
type tables struct {
	generation int
	logical    []string
	physical   map[string]string
	cache      sync.Map // query -> expanded query
}

// tablesOf returns the (cached) tables of g: a generation's tables never change.
func (t *Target) tablesOf(g projection.Generation) *tables {
	k := genKey{g.Name, g.Number}
	if v, ok := t.tables.Load(k); ok {
		if tb := v.(*tables); slices.Equal(tb.logical, g.Tables) {
			return tb
		}
	}
	tb := &tables{generation: g.Number, logical: slices.Clone(g.Tables), physical: make(map[string]string, len(g.Tables))}
	for _, name := range g.Tables {
		tb.physical[name] = PhysicalTable(name, g.Number)
	}
	t.tables.Store(k, tb)
	return tb
}

// expand replaces {t} with the physical name of t for every table t of the
// generation; any other brace is left alone.
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
