package collector

import "github.com/zmqlog/zmqlog/topic"

// rateSeconds is how far back History.Rates can look: the page's chart
// shows the last five minutes.
const rateSeconds = 300

// SecondRates counts the entries that arrived in one second (Unix time),
// by severity: Counts[topic.Error] are the errors.
type SecondRates struct {
	Unix   int64
	Counts [topic.Fatal + 1]uint32
}

// levelRates counts entries per second and severity over the last
// rateSeconds, in a ring of seconds that is reset as time moves on. Its
// memory is fixed (about 10 KiB), whatever the rate.
type levelRates struct {
	secs [rateSeconds]SecondRates
}

func (r *levelRates) add(unixNano int64, sev topic.Severity) {
	sec := unixNano / 1e9
	b := &r.secs[((sec%rateSeconds)+rateSeconds)%rateSeconds]
	if b.Unix != sec {
		*b = SecondRates{Unix: sec}
	}
	b.Counts[sev]++
}

// last returns the n seconds up to now, oldest first; a second nothing
// arrived in has zero counts.
func (r *levelRates) last(now int64, n int) []SecondRates {
	n = min(max(n, 0), rateSeconds)
	out := make([]SecondRates, n)
	for i := range out {
		sec := now - int64(n-1-i)
		out[i].Unix = sec
		if b := r.secs[((sec%rateSeconds)+rateSeconds)%rateSeconds]; b.Unix == sec {
			out[i].Counts = b.Counts
		}
	}
	return out
}
