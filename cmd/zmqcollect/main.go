// Command zmqcollect receives log entries from zmqlog producers (and any
// ZeroMQ PUSH), stores them one per line in a rotated file, re-publishes
// each on a PUB socket with its level as the topic, and can forward
// everything to another collector.
//
// With no flags it is a working collector on this machine: apps send to
// tcp://127.0.0.1:5557, tails subscribe at tcp://127.0.0.1:5558, entries
// go to logs/zmqlog.jsonl. Run zmqcollect --help for every flag.
//
// zmqcollect keygen NAME writes a new CURVE key pair in the current
// directory as NAME.key (public) and NAME.key_secret (mode 0600), the
// certificate files pyzmq and czmq use.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/collector/vlsink"
	"github.com/zmqlog/zmqlog/internal/cli"
)

func main() { cli.Main(run) }

// settings is what the flags say: the collector's Config and what the
// command does around it.
type settings struct {
	cfg     collector.Config
	metrics string // "": no metrics server
	mode    string // --file-mode as given, for its error messages
	http    *httpFlags
	// fileLimit is the open-file limit cfg.Limits.MaxConns was fitted to
	// (0: unknown, not fitted); connsLowered is the --max-conns default it
	// could not hold, or 0.
	fileLimit, connsLowered int
}

// parseFlags builds the collector's Config from args. It starts from
// collector.Defaults, so each flag's default is the library's and a flag
// set to 0 reaches the collector as 0 (off, or keep all); --max-conns is
// then fitted to fileLimit, the process's open-file limit (0: unknown).
func parseFlags(args []string, stdout, stderr io.Writer, fileLimit int) (settings, error) {
	fs := flag.NewFlagSet("zmqcollect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := collector.Defaults()
	mb := func(n int64) int { return int(n >> 20) }
	var (
		file    = fs.String("file", cfg.File, `store file, one entry per line, appended and rotated; "" turns storing off`)
		pub     = fs.String("pub", cfg.Pub, `endpoint subscribers connect to (PUB, binds); "" turns publishing off`)
		echo    = fs.Bool("stdout", false, "also write every stored line to stdout")
		metrics = fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9557; an address other hosts reach needs --http-token")
		state   = fs.String("state", "", `where producer positions survive restarts (so gaps are counted right); default: the store file's name plus ".state"; "" turns it off`)
		mode    = fs.String("file-mode", fmt.Sprintf("%#o", uint32(cfg.FileMode)), "permission of the store file, its rotated and compressed backups and the state file, in octal (0640: the group may read)")
	)
	fs.StringVar(&cfg.Pull, "pull", cfg.Pull, "endpoint apps send to (PULL, binds); tcp://*:5557 accepts other hosts")
	fs.StringVar(&cfg.Forward, "forward", cfg.Forward, "another collector to send everything on to, e.g. tcp://central:5557; several, comma-separated, share the batches")
	fs.StringVar(&cfg.VictoriaLogs, "victorialogs", "", "also send every entry to VictoriaLogs, e.g. http://127.0.0.1:9428; several URLs, comma-separated, are insert nodes shared with failover (see README, When one machine is not enough)")
	fs.DurationVar(&cfg.VictoriaLogsDrain, "victorialogs-drain", cfg.VictoriaLogsDrain, "on SIGTERM, go on sending to VictoriaLogs for at most this long; what is left waits in the store for the next start")
	fs.BoolVar(&cfg.VictoriaLogsGzip, "victorialogs-gzip", cfg.VictoriaLogsGzip, "gzip requests to VictoriaLogs: far fewer bytes, twice the CPU; for slow links")
	fs.IntVar(&cfg.MaxSizeMB, "max-size", cfg.MaxSizeMB, "rotate the store file when it reaches this many megabytes")
	fs.IntVar(&cfg.MaxBackups, "max-backups", cfg.MaxBackups, "rotated files to keep (0 keeps all)")
	fs.IntVar(&cfg.MaxAgeDays, "max-age", cfg.MaxAgeDays, "days to keep rotated files (0 keeps them)")
	fs.BoolVar(&cfg.Compress, "compress", cfg.Compress, "gzip rotated files")
	fs.IntVar(&cfg.SubscriberQueue, "subscriber-queue", cfg.SubscriberQueue, "messages a subscriber may have waiting before it misses some")
	maxMessageMB := fs.Int("max-message-mb", mb(cfg.MaxMessageSize), "megabytes one incoming message may hold; a peer that sends more is dropped")
	fs.IntVar(&cfg.Limits.MaxConns, "max-conns", cfg.Limits.MaxConns, "connections each port holds open at most; the default is lowered to what the open-file limit (ulimit -n) holds beside the collector's own files, and a value over that is refused")
	fs.IntVar(&cfg.Limits.MaxConnsPerHost, "max-conns-per-host", cfg.Limits.MaxConnsPerHost, "connections one IP address may hold open on each port")
	receiveMB := fs.Int("receive-budget-mb", mb(cfg.Limits.ReceiveBudget), "megabytes of received messages held before they are stored; past it producers are pushed back")
	receiveHostMB := fs.Int("receive-budget-per-host-mb", mb(cfg.Limits.ReceiveBudgetPerHost), "one host's share of --receive-budget-mb")
	fs.IntVar(&cfg.Limits.MaxSubscriptions, "max-subscriptions", cfg.Limits.MaxSubscriptions, "subscriptions one subscriber may hold; past it, it is disconnected")
	subQueueMB := fs.Int("subscriber-queue-mb", mb(cfg.Limits.SubscriberQueueBytes), "megabytes of entries queued for one subscriber before it misses some")
	publishMB := fs.Int("publish-budget-mb", mb(cfg.Limits.PublishBudget), "megabytes of entries queued for all subscribers together")
	subscriptionMB := fs.Int("subscription-budget-mb", mb(cfg.Limits.SubscriptionBudget), "megabytes all subscribers' subscriptions may hold; a subscriber past it is disconnected")
	fs.Float64Var(&cfg.Limits.HandshakeRate, "handshake-rate", cfg.Limits.HandshakeRate, "CURVE handshakes one host may start per second on each port, after a burst of --max-conns-per-host; past it they are refused before any cryptography; 0 turns it off")
	fs.DurationVar(&cfg.Limits.IdlePing, "idle-ping", cfg.Limits.IdlePing, "PING a peer quiet this long, drop it if nothing comes back within as long again (libzmq and zmqlog answer by themselves); 0 turns it off")
	fs.StringVar(&cfg.CurveSecret, "curve-secret", "", "this collector's secret CURVE certificate (NAME.key_secret from zmqcollect keygen, mode 0600): both ports then speak CURVE only; needs --curve-clients or --curve-any-client")
	fs.StringVar(&cfg.CurveClients, "curve-clients", "", "directory of the public CURVE certificates (*.key) of the apps and tails allowed in; re-read when it changes")
	fs.StringVar(&cfg.CurveTails, "curve-tails", "", "directory of the public CURVE certificates of the tails allowed to subscribe (PUB); then --curve-clients and --curve-any-client apply to apps (PULL) only")
	fs.BoolVar(&cfg.CurveAnyClient, "curve-any-client", false, "with --curve-secret, take any CURVE client: encrypted, but not allow-listed")
	fs.StringVar(&cfg.ForwardCurveServer, "forward-curve-server", "", "the --forward collector's public CURVE certificate (NAME.key); needs --forward-curve-secret")
	fs.StringVar(&cfg.ForwardCurveSecret, "forward-curve-secret", "", "this collector's secret CURVE certificate as a client of the --forward collector; needs --forward-curve-server")
	httpf := addHTTPFlags(fs, &cfg)
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "on SIGTERM, keep reading what producers already sent for at most this long (less once 100ms pass quiet); 0 stops at once")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: zmqcollect [flags]
       zmqcollect keygen NAME   (a CURVE key pair: NAME.key, NAME.key_secret)

Receives log entries from zmqlog producers and any ZeroMQ PUSH, stores them
one per line, and re-publishes each as [topic, entry] with its level as
the topic (subscribe to "ERROR" for errors). Publishes its stats every
second on the topic %q. Stops cleanly on SIGINT or SIGTERM: it first
reads what producers have already sent (--drain), then writes everything
received to the store.

Flags:
`, collector.HeartbeatTopic)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, cli.Usage(fmt.Errorf("zmqcollect takes no arguments, got %q; see --help", fs.Args()))
	}
	for _, bad := range []struct {
		name string
		v    int
	}{{"max-size", cfg.MaxSizeMB}, {"max-backups", cfg.MaxBackups}, {"max-age", cfg.MaxAgeDays},
		{"max-message-mb", *maxMessageMB}, {"max-conns", cfg.Limits.MaxConns}, {"max-conns-per-host", cfg.Limits.MaxConnsPerHost},
		{"receive-budget-mb", *receiveMB}, {"receive-budget-per-host-mb", *receiveHostMB},
		{"max-subscriptions", cfg.Limits.MaxSubscriptions}, {"subscriber-queue-mb", *subQueueMB}, {"publish-budget-mb", *publishMB}, {"subscription-budget-mb", *subscriptionMB}} {
		if bad.v < 0 {
			return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --%s %d: must not be negative", bad.name, bad.v))
		}
	}
	if cfg.MaxSizeMB == 0 {
		return settings{}, cli.Usage(errors.New("zmqcollect: --max-size 0: a file of no size could store nothing; give a positive number"))
	}
	for _, zero := range []struct {
		name string
		v    int
	}{{"max-message-mb", *maxMessageMB}, {"max-conns", cfg.Limits.MaxConns}, {"max-conns-per-host", cfg.Limits.MaxConnsPerHost},
		{"receive-budget-mb", *receiveMB}, {"receive-budget-per-host-mb", *receiveHostMB},
		{"max-subscriptions", cfg.Limits.MaxSubscriptions}, {"subscriber-queue-mb", *subQueueMB}, {"publish-budget-mb", *publishMB}, {"subscription-budget-mb", *subscriptionMB}} {
		if zero.v == 0 {
			return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --%s 0: a limit of nothing would refuse every peer; give a positive number", zero.name))
		}
	}
	cfg.Limits.ReceiveBudget, cfg.Limits.ReceiveBudgetPerHost = int64(*receiveMB)<<20, int64(*receiveHostMB)<<20
	cfg.MaxMessageSize = int64(*maxMessageMB) << 20
	cfg.Limits.SubscriberQueueBytes, cfg.Limits.PublishBudget = int64(*subQueueMB)<<20, int64(*publishMB)<<20
	cfg.Limits.SubscriptionBudget = int64(*subscriptionMB) << 20
	if cfg.Limits.HandshakeRate < 0 {
		return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --handshake-rate %v: must not be negative (0 turns it off)", cfg.Limits.HandshakeRate))
	}
	if cfg.Limits.IdlePing < 0 {
		return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --idle-ping %v: must not be negative (0 turns it off)", cfg.Limits.IdlePing))
	}
	if cfg.VictoriaLogsDrain < 0 {
		return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --victorialogs-drain %v: must not be negative", cfg.VictoriaLogsDrain))
	}
	if cfg.Drain < 0 {
		return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --drain %v: must not be negative", cfg.Drain))
	}
	if err := checkCurveFlags(cfg); err != nil {
		return settings{}, cli.Usage(err)
	}
	perm, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil {
		return settings{}, cli.Usage(fmt.Errorf("zmqcollect: --file-mode %s: not an octal file mode such as 0600 or 0640", *mode))
	}
	cfg.FileMode = os.FileMode(perm) // collector.New checks it
	cfg.File, cfg.NoFile = *file, *file == ""
	cfg.StateFile = *state
	if !flagSet(fs, "state") && *file != "" {
		cfg.StateFile = *file + ".state"
	}
	cfg.Pub, cfg.NoPub = *pub, *pub == ""
	if *echo {
		cfg.Stdout = stdout
	}
	if err := httpf.apply(&cfg); err != nil {
		return settings{}, err
	}
	webServers := 0
	if httpf.addr != "" {
		webServers++
	}
	if *metrics != "" {
		if err := checkWebAddr("metrics", *metrics, httpf.token, "127.0.0.1:9557"); err != nil {
			return settings{}, err
		}
		webServers++
	}
	asked := cfg.Limits.MaxConns
	cfg.Limits.MaxConns, err = newFileBudget(cfg, webServers, fileLimit).fit(asked, flagSet(fs, "max-conns"))
	if err != nil {
		return settings{}, cli.Usage(err)
	}
	set := settings{cfg: cfg, metrics: *metrics, mode: *mode, http: httpf, fileLimit: fileLimit}
	if cfg.Limits.MaxConns < asked {
		set.connsLowered = asked
	}
	return set, nil
}

// curveFlag names the flag of each CURVE field of collector.Config.
var curveFlag = map[string]string{
	"CurveSecret": "curve-secret", "CurveClients": "curve-clients", "CurveAnyClient": "curve-any-client", "CurveTails": "curve-tails",
	"ForwardCurveServer": "forward-curve-server", "ForwardCurveSecret": "forward-curve-secret",
}

// checkCurveFlags refuses CURVE flags that would leave a port open by
// mistake or do nothing, in the flags' own words.
func checkCurveFlags(cfg collector.Config) error {
	switch {
	case cfg.CurveSecret != "" && cfg.CurveClients == "" && !cfg.CurveAnyClient:
		return errors.New("zmqcollect: --curve-secret needs --curve-clients DIR (the allowed apps' and tails' *.key files) or --curve-any-client (anyone with the collector's public key may send and read)")
	case cfg.CurveSecret == "" && (cfg.CurveClients != "" || cfg.CurveAnyClient || cfg.CurveTails != ""):
		return errors.New("zmqcollect: --curve-clients, --curve-any-client and --curve-tails need --curve-secret (the collector's own NAME.key_secret)")
	case cfg.CurveClients != "" && cfg.CurveAnyClient:
		return errors.New("zmqcollect: --curve-clients and --curve-any-client contradict each other: give one")
	case (cfg.ForwardCurveServer == "") != (cfg.ForwardCurveSecret == ""):
		return errors.New("zmqcollect: CURVE to the next tier needs both --forward-curve-server (its NAME.key) and --forward-curve-secret (this collector's NAME.key_secret)")
	case cfg.ForwardCurveServer != "" && cfg.Forward == "":
		return errors.New("zmqcollect: --forward-curve-server and --forward-curve-secret need --forward")
	}
	return nil
}

// flagSet reports whether args set the flag name, even to its default.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "keygen" {
		return keygen(args[1:], stdout, stderr)
	}
	set, err := parseFlags(args, stdout, stderr, openFileLimit())
	if err != nil {
		return err
	}
	cfg := set.cfg
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Log = logger
	if set.connsLowered > 0 {
		logger.Warn("--max-conns lowered to what the open-file limit (ulimit -n) holds beside the collector's own files; raise the limit for more",
			"from", set.connsLowered, "to", cfg.Limits.MaxConns, "open_file_limit", set.fileLimit)
	}

	c, err := collector.New(cfg)
	if err != nil {
		// A malformed endpoint is a usage error; a port in use is not.
		var ee *collector.EndpointError
		if errors.As(err, &ee) {
			return cli.Usage(fmt.Errorf("zmqcollect: --%s: %w", strings.ToLower(ee.Field), ee.Err))
		}
		var ce *collector.CurveError
		if errors.As(err, &ce) {
			return cli.Usage(fmt.Errorf("zmqcollect: --%s: %w", curveFlag[ce.Field], ce.Err))
		}
		var fme *collector.FileModeError
		if errors.As(err, &fme) {
			return cli.Usage(fmt.Errorf("zmqcollect: --file-mode %s: %s", set.mode, fme.Reason))
		}
		return fmt.Errorf("zmqcollect: %w", err)
	}
	reg := newRegistry(c)
	if set.http.addr != "" {
		stopHTTP, err := startHTTP(c, set.http, reg, logger)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	if set.metrics != "" {
		stopMetrics, err := startMetrics(c, set.metrics, set.http.token, reg, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	logger.Info("collecting", "pull", c.PullEndpoint(), "pub", c.PubEndpoint(), "file", cfg.File, "forward", cfg.Forward, "victorialogs", vlsink.Redacted(cfg.VictoriaLogs))
	err = c.Run(ctx)
	st := c.Stats()
	logger.Info("stopped", "received", st.Received, "stored", st.Stored, "store_failed", st.StoreFailed,
		"published", st.Published, "subscriber_dropped", st.SubscriberDropped, "gaps", st.Gaps, "gaps_repaired", st.GapsRepaired, "invalid_utf8", st.InvalidUTF8, "malformed", st.Malformed+st.UnknownVersion)
	if vl, ok := c.VictoriaLogsStats(); ok {
		var dropped uint64
		for _, n := range vl.Dropped {
			dropped += n
		}
		logger.Info("victorialogs", "sent", vl.Sent, "retries", vl.Retries, "dropped", dropped, "lag_entries", vl.LagEntries, "files_lost", vl.LostFiles)
	}
	return err
}
