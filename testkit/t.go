package testkit

// T is the part of testing.TB a scenario uses; *testing.T and *testing.B satisfy
// it. A scenario reports failures with Errorf and never calls FailNow itself: the
// steps after a failed one are skipped, so one mistake gives one message.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
	Name() string
}
