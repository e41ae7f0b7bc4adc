package route

import "teamtalk/netloop"

// NetStats returns the statistics of the service's netloop group (zero
// before Run); /metrics reads it at scrape time.
func (s *Service) NetStats() netloop.Stats {
	return s.net.NetStats()
}
