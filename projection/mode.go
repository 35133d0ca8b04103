package projection

// Mode tells a handler how it is being run (G10).
type Mode uint8

const (
	// CatchUp: the runner is reading history from the checkpoint towards the head of
	// the log (the first generation of a projection, a restart after downtime,
	// replays and re-runs of parked events).
	CatchUp Mode = iota + 1
	// Live: the runner has caught up and is applying events as they are committed.
	Live
	// Rebuild: the runner is building a new generation from position zero beside
	// the active one (blue/green). Reactors never run in this mode.
	Rebuild
)

// String returns "catch-up", "live" or "rebuild".
func (m Mode) String() string {
	switch m {
	case CatchUp:
		return "catch-up"
	case Live:
		return "live"
	case Rebuild:
		return "rebuild"
	default:
		return "unknown"
	}
}
