// Package collector is zmqcollect as a library: it receives log entries
// from many producers, stores them, re-publishes them by level and
// forwards them to another collector.
//
//	c, err := collector.New(collector.Defaults()) // change any field first: see Config
//	if err != nil {
//		return err // a malformed endpoint, a port in use, an unwritable file
//	}
//	err = c.Run(ctx) // until ctx ends; then everything received is stored
//
// When ctx ends, Run first drains: it keeps reading what producers have
// already written (up to Config.Drain, 2s, or until 100ms pass quiet),
// because entries left in socket buffers would be lost with nobody able
// to count them.
//
// # What is stored and published
//
// Each entry is stored as one line, exactly as the producer encoded it
// when it is a JSON object (an object spread over several lines is
// compacted). A body that is not a JSON object, such as a plain text
// line from pyzmq's PUBHandler, is wrapped:
//
//	{"level":"WARNING","topic":"WARNING.sub","msg":"disk slow","wrapped":true}
//
// Entries that are not valid UTF-8 are skipped and counted. Every stored
// entry is published on PUB as [topic, entry]; a plain [entry] message
// with no topic gets the upper-cased "level" field of its JSON, or
// UNKNOWN. Every second the collector publishes its counters as JSON on
// HeartbeatTopic ("_HEARTBEAT"), which no level subscription matches.
//
// # Recent history
//
// The collector also keeps its latest entries in memory, in a ring bounded
// in bytes (Config.HistoryBytes, 16 MiB by default), each numbered with a
// position of its own (Collector.History). A late joiner reads from a
// position on: the history, then what arrives, as one sequence, with no
// entry twice or missing where the two meet; one that falls behind the
// ring misses the entries it evicted and is told how many. Package
// collector/web serves it to browsers and to zmqtail --since (PROTOCOL.md,
// "Recent history").
//
// # Loss accounting
//
// Stats (and the Prometheus metrics, the collector being a
// prometheus.Collector) say per producer (host, pid, app): entries
// received, entries lost in transit, and entries the producer reports it
// dropped itself. Loss in transit is Gaps − GapsRepaired: a gap in a
// stream's sequence numbers is counted when the batch after it arrives,
// and a late batch that fills it (overtaken on another connection after a
// write timeout) is counted as repaired, so both stay monotonic counters
// (zmqlog_collector_gap_entries_total and
// zmqlog_collector_gap_repaired_entries_total). A stream remembers its
// last few holes; a batch later than that is counted as loss, never the
// other way round. Failed writes to the
// store, entries too large for the store file, subscribers too slow to
// keep up, a next tier that cannot take more, and what the next tier has
// not taken 2s after Run stops are counted too; nothing is dropped
// silently. Problems are logged to Config.Log, each kind at most once per
// second.
//
// Producer names come from peers. They reach Stats, labels and logs as
// [wire.Decode] repairs them (valid UTF-8, control characters replaced by
// U+FFFD, at most [wire.MaxName] bytes), and a metric series that still
// could not be exposed is left out of the scrape and counted
// (zmqlog_collector_series_skipped_total, Stats.SeriesSkipped) rather
// than failing it: one producer cannot blind the metrics of all.
//
// With Config.StateFile set (zmqcollect: the store file's name plus
// ".state"), each producer stream's position survives restarts, so gaps
// keep meaning loss. The state is saved after each store flush and never
// runs ahead of the store: a collector killed outright can over-report
// loss by at most one flush interval's entries, never under-report it.
//
// # VictoriaLogs
//
// With Config.VictoriaLogs set, every stored entry also goes to
// VictoriaLogs (a single node or a cluster's insert nodes), each line
// carrying its producer under the key "zmqlog". The sink follows the
// store file from a durable cursor rather than sitting in the ingest
// path, so VictoriaLogs being slow or down never slows ingest, PUB or the
// store, and an outage or a restart loses nothing the rotated files still
// hold. The package vlsink is its manual.
//
// # Limits
//
// The collector is meant to bind an address other hosts reach, so every
// peer is bounded (Config.Limits; SECURITY.md lists each limit with its
// default and zmqcollect flag): a peer that does not complete a ZMTP
// handshake in 5s or sends more than a handshake needs, sends a message
// over MaxMessageSize, breaks the protocol, goes silent (no answer to a
// ZMTP PING), holds more than its host's connections or share of the
// receive budget, or subscribes past the subscription limits is
// disconnected and counted (Stats.ProducerPeers and SubscriberPeers; the
// metric zmqlog_collector_peers_rejected_total by port and reason);
// everyone else is served meanwhile. A subscriber that sends data other
// than subscriptions is ignored and counted, as libzmq does. The collector
// remembers at most 10000 producer streams (least recently seen forgotten
// first), so forged identities cannot grow its memory. Its receive queue
// holds 16 messages and its receive budget 16 MiB; beyond that TCP pushes
// back on producers, whose shippers drop and count.
package collector
