package msg

import "teamtalk/netloop"

// NetStats returns the statistics of the service's netloop group (zero
// before Run); /metrics reads it at scrape time.
func (s *Service) NetStats() netloop.Stats {
	if _, _, _, _, _, _, g := s.pools(); g != nil {
		return g.Stats()
	}
	return netloop.Stats{}
}
