// Package pgident checks the PostgreSQL identifiers idem's PostgreSQL packages
// accept from their callers (schema and table names): quoted everywhere they are
// used, but kept to plain identifiers so that they read the same in psql, in logs
// and in error messages.
package pgident

import (
	"errors"
	"fmt"
	"strings"
)

// Check reports why name is not an identifier of 1 to 63 ASCII letters, digits
// and underscores, not starting with a digit or "pg_" (PostgreSQL keeps those
// for itself), or nil.
func Check(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > 63:
		return errors.New("longer than 63 bytes, PostgreSQL's limit")
	case name[0] >= '0' && name[0] <= '9':
		return errors.New("starts with a digit")
	case strings.HasPrefix(strings.ToLower(name), "pg_"):
		return errors.New(`names starting with "pg_" are reserved by PostgreSQL`)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return fmt.Errorf("byte %d is not an ASCII letter, digit or underscore", i)
		}
	}
	return nil
}
