//go:build race

package ops_test

// buildFlags build the binaries the tests run as the test binary is built, so
// that they reuse its compiled packages.
var buildFlags = []string{"-race"}
