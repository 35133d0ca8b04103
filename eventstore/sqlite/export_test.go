package sqlite

// BatchStats reports how many batches ran, how many appends they held,
// and the largest batch.
func BatchStats(s *Store) (batches, appends, largest int64) {
	return s.stats.Load()
}

// QueueLen is the number of appends queued behind the running batch's leader.
func QueueLen(s *Store) int { return s.group.Queued() }

// SetCommitHook makes every commit first call hook; a non-nil error fails the batch
// as a failed commit would. nil removes the hook.
func SetCommitHook(s *Store, hook func() error) {
	if hook == nil {
		s.testCommitHook.Store(nil)
		return
	}
	s.testCommitHook.Store(&hook)
}
