package vlsink

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait before retry number n (from 0) once every insert
// node has failed: doubling from base up to ceiling, each wait drawn at
// random from its upper half, so that many collectors that lost the same
// VictoriaLogs do not come back at the same instant.
type backoff struct{ base, ceiling time.Duration }

func (b backoff) wait(n int) time.Duration {
	d := b.ceiling
	if n < 30 {
		d = min(b.base<<n, b.ceiling)
	}
	return d/2 + rand.N(d/2+1)
}
