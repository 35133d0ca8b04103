package projection

import "context"

// NameLister is implemented by targets that list the names they keep bookkeeping
// for (projections and reactors), so that operators' tools can list them without
// the application's code. The SQLite and PostgreSQL targets implement it.
type NameLister interface {
	// Names returns the names with at least one generation, sorted.
	Names(ctx context.Context) ([]string, error)
}

// Differ is implemented by targets that compare two generations of a projection
// row by row (the SQLite and PostgreSQL targets). Runner.Reconcile needs it.
type Differ[Tx any] interface {
	// Diff compares, in tx (a Write's transaction: it sees what the transaction
	// wrote), each logical table of generation rebuilt of name with the same table
	// of generation live: the rows rebuilt has and live lacks (missing from live),
	// those live has and rebuilt lacks (extra in live), and those both have under
	// one primary key with other values (different). Rows are matched by the
	// table's primary key, or whole, as a multiset, when it has none. Every
	// mismatch is counted; at most limit rows of each kind per table are returned
	// (limit 0: none). It returns one TableDiff per logical table of rebuilt, in
	// order. A table whose columns differ between the generations fails the
	// comparison with ErrInvalidProjection. It writes nothing.
	Diff(ctx context.Context, tx Tx, name string, live, rebuilt, limit int) ([]TableDiff, error)
}

// DiffKind is the kind of a row mismatch.
type DiffKind string

// The kinds of mismatches, from the read model's point of view: the rebuilt
// generation, built from history, is the reference.
const (
	// Missing: a row the rebuild has and the live read model lacks.
	Missing DiffKind = "missing"
	// Extra: a row the live read model has and the rebuild lacks.
	Extra DiffKind = "extra"
	// Different: a row both have under one key, with other values.
	Different DiffKind = "different"
)

// TableDiff is the comparison of one logical table.
type TableDiff struct {
	// Table is the logical table's name.
	Table string `json:"table"`
	// Columns are the table's columns, in order; Key those of its primary key
	// (none: rows were matched whole).
	Columns []string `json:"columns"`
	Key     []string `json:"key,omitempty"`
	// Missing, Extra and Different count the mismatches of each kind.
	Missing   int `json:"missing"`
	Extra     int `json:"extra"`
	Different int `json:"different"`
	// Rows are examples of them, at most the limit of each kind.
	Rows []RowDiff `json:"rows,omitempty"`
}

// Mismatches is the number of mismatched rows of the table.
func (d TableDiff) Mismatches() int { return d.Missing + d.Extra + d.Different }

// RowDiff is one mismatched row.
type RowDiff struct {
	Kind DiffKind `json:"kind"`
	// Live and Rebuilt are the row's values in each generation, in Columns order
	// (nil for the generation that lacks it). Values are as the target reads them:
	// for SQLite int64, float64, string, []byte or nil.
	Live    []any `json:"live,omitempty"`
	Rebuilt []any `json:"rebuilt,omitempty"`
}
