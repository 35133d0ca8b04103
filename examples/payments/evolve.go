package payments

import "maps"

// Evolve applies one event to a state and returns the new state. It is pure: s's
// maps are copied before they change, so states handed out earlier stay as they
// were. Unknown events leave the state unchanged.
func Evolve(s State, event Event) State {
	switch e := event.(type) {
	case Authorized:
		s.Status = StatusAuthorized
		s.Customer, s.Currency, s.Authorized = e.Customer, e.Currency, e.Amount
	case Captured:
		s.Captures = with(s.Captures, e.Reference, e.Amount)
		s.Captured += e.Amount
	case Refunded:
		s.Refunds = with(s.Refunds, e.Reference, e.Amount)
		s.Refunded += e.Amount
	case Voided:
		s.Status = StatusVoided
	}
	return s
}

func with(m map[string]int64, key string, value int64) map[string]int64 {
	m = maps.Clone(m)
	if m == nil {
		m = make(map[string]int64, 1)
	}
	m[key] = value
	return m
}
