package dbproxy

import "teamtalk/netloop"

// NetStats returns the statistics of the service's netloop group (zero
// before Run); /metrics reads it at scrape time.
func (s *Service) NetStats() netloop.Stats {
	s.mu.Lock()
	g := s.group
	s.mu.Unlock()
	if g == nil {
		return netloop.Stats{}
	}
	return g.Stats()
}
