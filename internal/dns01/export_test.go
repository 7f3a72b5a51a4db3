package dns01

// WithSystemResolvers makes s look names up through servers instead of
// /etc/resolv.conf, and ask a zone's name servers on port instead of 53:
// a test's DNS server cannot bind port 53.
func WithSystemResolvers(s *Solver, port string, servers ...string) *Solver {
	s.systemResolvers, s.authPort = servers, port
	return s
}
