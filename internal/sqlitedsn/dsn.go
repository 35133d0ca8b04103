// Package sqlitedsn builds go-sqlite3 connection strings from plain file paths, so
// that every SQLite file idem opens (event store, read models, snapshots) takes its
// path literally: '#', '?' and '%' name a file, and a path cannot smuggle in
// settings that override idem's.
package sqlitedsn

import (
	"net/url"
	"strings"
)

// DSN returns the go-sqlite3 URI for the file at path with params; the characters
// that mean something in a URI are escaped in the path.
func DSN(path string, params url.Values) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	if strings.HasPrefix(escaped, "//") {
		escaped = "/" + strings.TrimLeft(escaped, "/")
	}
	return "file:" + escaped + "?" + params.Encode()
}
