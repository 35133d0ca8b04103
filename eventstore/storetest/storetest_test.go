package storetest_test

import "testing"

// TestRunWithOptions runs the suite, on the memory store, with every option set: the
// configuration a remote backend would use (see example_test.go).
func TestRunWithOptions(t *testing.T) {
	conformance(t)
}
