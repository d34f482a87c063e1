package accounturl

import "github.com/imbridge/middleware"

// Option adds to the backends that Parse and ParseFile build what a URL
// cannot carry.
type Option func(*settings)

type settings struct {
	limiter middleware.Limiter
}

// WithLimiter keeps every account's budgets in l (a redisstate.Limiter,
// say), so that the replicas of a service pushing as the same bot share
// its budget. Default: each backend's own, in memory.
func WithLimiter(l middleware.Limiter) Option { return func(s *settings) { s.limiter = l } }

func settingsOf(opts []Option) settings {
	var s settings
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	return s
}
