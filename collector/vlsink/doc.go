// Package vlsink sends the collector's entries to VictoriaLogs, a single
// node or a cluster's insert nodes, and loses nothing across its outages
// or the collector's restarts as long as the store's rotated files still
// hold what was not yet sent. zmqcollect turns it on with --victorialogs
// (collector.Config.VictoriaLogs).
//
// # The store is the write-ahead log
//
// The sink never sits in the collector's path: the collector appends to
// its store file as before, and the sink follows that file from a cursor,
// the way a replica follows a database's log. So ingest, the PUB stream
// and the store never wait for VictoriaLogs; when VictoriaLogs is slow or
// down, the sink falls behind in the file and catches up later.
//
// The cursor (the store file's name plus ".vlcursor") names a file by its
// identity (device and inode, which rotation's rename keeps) and the hash
// of its first 4 KiB (an inode is reused once its file is deleted), and an
// offset just after a line. It moves only past batches VictoriaLogs has
// acknowledged, and past every batch before them: several requests are in
// flight at once and may be acknowledged in any order. It is saved (to a
// temporary file renamed over the old one, like the producer-state file)
// each time it moves, and at Close.
//
// What this guarantees:
//
//   - VictoriaLogs acknowledges a request before it writes it to disk
//     (within its -inmemoryDataFlushInterval, 5s by default, 1s at least).
//     Stopped or restarted (SIGTERM) it loses nothing; killed outright
//     (SIGKILL, out of memory, power) it loses what it acknowledged in
//     that window, and no client can tell. Lower the interval if that
//     matters more than its disk's write load.
//   - VictoriaLogs restarted or unreachable: failed requests are retried
//     (with jittered exponential backoff, 100ms to 5s, once every insert
//     node has failed) and the store waits; nothing is lost, and nothing is
//     sent twice unless VictoriaLogs ingested a request and the answer was
//     lost (at least once, never at most once).
//   - The collector killed outright: the next start sends again what was
//     in flight, at most InFlight requests (4 × 1 MiB by default).
//   - The collector stopped (SIGTERM): Close sends what it can within
//     collector.Config.VictoriaLogsDrain (5s), saves the cursor, and the
//     next start goes on from there.
//   - The rotation removing files (MaxBackups) before the sink sent them:
//     the sink holds open the file it reads and the ones after it (it
//     looks at the store every 100ms while behind), so a removed file
//     still reads. Held removed files keep their disk, so at most two are
//     held: past that, the oldest unsent entries are let go and counted
//     one by one (rotated_out). Keep enough backups for the longest outage
//     you want to ride out. A file made and removed between two looks
//     (MaxBackups × MaxSizeMB written in 100ms) is lost uncounted; a file
//     the cursor names that is gone at a restart is counted as a lost
//     file (its entries cannot be counted). Compressed backups (.gz) are
//     not read.
//   - On a first start (no cursor) the sink begins at the end of the
//     store: lines stored before it was turned on are not sent.
//   - Without a store file (zmqcollect --file "") there is no log to catch
//     up from: lines wait in memory, up to MemoryBytes (64 MiB), and past
//     that they are dropped and counted (buffer_full), as are those still
//     held when Close gives up (shutdown).
//   - VictoriaLogs refusing a request for good (a 4xx other than 408 and
//     429) drops that request's lines, counted (rejected), rather than
//     stopping everything behind it.
//
// # What VictoriaLogs receives
//
// Lines go to /insert/jsonline as they are in the store, as
// application/stream+json (VictoriaLogs answers a form content type with
// 200 and ingests nothing), with
//
//	_stream_fields=zmqlog.app,zmqlog.host  _time_field=ts,time  _msg_field=msg
//
// so zap's numeric ts and slog's RFC 3339 time are both the entry's time.
// The store writes each entry's producer into its line (see [Stamp] and
// [AppendLine]) under the key "zmqlog", which VictoriaLogs flattens into
// the fields zmqlog.app, zmqlog.host and zmqlog.pid. A plain ZeroMQ
// message (no zmqlog batch header) has no producer and gets no such
// field. A producer's own top-level "zmqlog" key is left as it is: the
// batch header's identity is the producer's word too, so it could say the
// same there.
//
// "Error and worse" across zap (level error, dpanic, panic, fatal) and
// slog (ERROR, ERROR+4 …) apps is one LogsQL filter, since the level
// names differ in case and spelling:
//
//	level:~"(?i)^(error|dpanic|panic|fatal)"
//
// VictoriaLogs' own limits apply: a line longer than its
// -insert.maxLineSizeBytes (256 KiB by default) is skipped by it, and an
// entry older than its -retentionPeriod (7 days) is refused; catching up
// after a longer outage loses those (VictoriaLogs counts them in its own
// metrics). Lines stored while the collector ran without --victorialogs
// carry no producer; after a cursor from an earlier run they are sent as
// they are.
//
// # Several insert nodes
//
// Config.URLs may name several servers (a cluster's insert nodes, or
// several single nodes): requests go to each in turn; a node whose request
// fails rests for a second while the others take its share, and a failed
// request goes at once to the next node before any backoff.
//
// # Cost
//
// Batches are whole lines up to BatchBytes (1 MiB), sent once full or
// after Linger (200ms); InFlight (4) requests at once. HTTP timeouts: 5s
// to connect, Timeout (30s) for a request. Gzip is off by default: on a
// LAN it costs CPU and buys nothing (the README's figures); turn it on
// (--victorialogs-gzip) over a slow link.
//
// # Metrics
//
// A Sink is a prometheus.Collector (the collector registers it):
// zmqlog_collector_victorialogs_entries_sent_total, _retries_total,
// _entries_dropped_total{reason} (rejected, buffer_full, shutdown,
// rotated_out, partial_line, too_long), _files_lost_total, _bytes_lost_total,
// _lag_entries (stored entries not yet acknowledged), _lag_seconds (since
// VictoriaLogs last had everything), _up{url}, _requests_total{url},
// _request_failures_total{url}, _cursor_save_errors_total.
package vlsink
