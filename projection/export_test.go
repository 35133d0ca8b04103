package projection

// MaxGuardCache is the bound of a reactor's cache of per-stream guards.
const MaxGuardCache = maxGuardCache

// GuardCacheLen returns the size of reactor name's cache of per-stream guards.
func GuardCacheLen[Tx any](r *Runner[Tx], name string) int {
	w := r.reactor(name)
	if w == nil {
		return -1
	}
	return len(w.guards)
}
