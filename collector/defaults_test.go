package collector

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// A Config literal's zero fields mean exactly what Defaults holds: the
// defaults are defined once.
func TestLiteralZeroMeansDefaults(t *testing.T) {
	literal, defaults := Config{}, Defaults()
	if _, err := literal.applyDefaults(); err != nil {
		t.Fatal(err)
	}
	if _, err := defaults.applyDefaults(); err != nil {
		t.Fatal(err)
	}
	literal.Log, defaults.Log = nil, nil // each a fresh discarding logger
	if !reflect.DeepEqual(literal, defaults) {
		t.Fatalf("Config{} became\n%+v\nDefaults() became\n%+v", literal, defaults)
	}
}

// In a Config from Defaults, 0 means off (IdlePing, Drain) or keep all
// (MaxBackups, MaxAgeDays); in a literal, a negative IdlePing is off and
// a zero one the default.
func TestDefaultsZeroMeansOff(t *testing.T) {
	cfg := Defaults()
	cfg.Drain, cfg.Limits.IdlePing, cfg.MaxBackups, cfg.MaxAgeDays = 0, 0, 0, 0
	if _, err := cfg.applyDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.Drain != 0 || cfg.Limits.IdlePing != 0 || cfg.MaxBackups != 0 || cfg.MaxAgeDays != 0 {
		t.Fatalf("zeros became Drain %v, IdlePing %v, MaxBackups %d, MaxAgeDays %d", cfg.Drain, cfg.Limits.IdlePing, cfg.MaxBackups, cfg.MaxAgeDays)
	}
	for _, tc := range []struct {
		name  string
		limit Limits
		want  time.Duration
	}{
		{"from Defaults, 0", cfg.Limits, -1},
		{"literal, -1", Limits{IdlePing: -1}, -1},
		{"default", Defaults().Limits, 15 * time.Second},
	} {
		o := tc.limit.socketOptions(zsock.Options{})
		if (o.Heartbeat < 0) != (tc.want < 0) || (tc.want > 0 && o.Heartbeat != tc.want) || o.HeartbeatTimeout != o.Heartbeat {
			t.Errorf("%s: socket heartbeat %v, timeout %v; want %v (negative: off)", tc.name, o.Heartbeat, o.HeartbeatTimeout, tc.want)
		}
	}
}

// A zero that nothing could work with, in a Config from Defaults, is an
// error naming the field rather than a silent default.
func TestDefaultsZeroSizeIsAnError(t *testing.T) {
	for _, tc := range []struct {
		field string
		zero  func(*Config)
	}{
		{"MaxSizeMB", func(c *Config) { c.MaxSizeMB = 0 }},
		{"FlushInterval", func(c *Config) { c.FlushInterval = 0 }},
		{"Limits.MaxConns", func(c *Config) { c.Limits.MaxConns = 0 }},
		{"MaxBackups", func(c *Config) { c.MaxBackups = -1 }},
	} {
		cfg := Defaults()
		tc.zero(&cfg)
		_, err := cfg.applyDefaults()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s zero: error %v, want a FieldError for it", tc.field, err)
		}
	}
}

// Rotated files: 10 kept by default, a literal's negative MaxBackups or a
// Defaults' 0 keeps all; the store hands that to lumberjack.
func TestMaxBackups(t *testing.T) {
	fromDefaults := Defaults()
	fromDefaults.MaxBackups = 0
	for _, tc := range []struct {
		name string
		cfg  Config
		want int // lumberjack's: 0 keeps all
	}{
		{"literal 0", Config{}, 10},
		{"literal -1", Config{MaxBackups: -1}, 0},
		{"literal 3", Config{MaxBackups: 3}, 3},
		{"Defaults", Defaults(), 10},
		{"Defaults 0", fromDefaults, 0},
	} {
		cfg := tc.cfg
		cfg.File, cfg.NoPub = filepath.Join(t.TempDir(), "store.jsonl"), true
		if _, err := cfg.applyDefaults(); err != nil {
			t.Fatal(err)
		}
		s, err := openStore(&cfg, func(string, error) {})
		if err != nil {
			t.Fatal(err)
		}
		if s.file.MaxBackups != tc.want {
			t.Errorf("%s: lumberjack keeps %d backups, want %d", tc.name, s.file.MaxBackups, tc.want)
		}
		s.close()
	}
}

// The collector's default limits are the socket layer's: a Config from
// Defaults gives its sockets exactly what zsock would choose by itself,
// field by field, so SECURITY.md's one table of defaults holds for both.
func TestDefaultLimitsAreTheSocketLayers(t *testing.T) {
	got := Defaults().Limits.socketOptions(zsock.Options{})
	want := zsock.Defaults()
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"MaxConns", int64(got.MaxConns), int64(want.MaxConns)},
		{"MaxConnsPerHost", int64(got.MaxConnsPerHost), int64(want.MaxConnsPerHost)},
		{"RecvBudget", got.RecvBudget, want.RecvBudget},
		{"RecvBudgetPerHost", got.RecvBudgetPerHost, want.RecvBudgetPerHost},
		{"Heartbeat", int64(got.Heartbeat), int64(want.Heartbeat)},
		{"HeartbeatTimeout", int64(got.HeartbeatTimeout), int64(want.HeartbeatTimeout)},
		{"MaxSubscriptions", int64(got.MaxSubscriptions), int64(want.MaxSubscriptions)},
		{"MaxSubscriptionBytes", int64(got.MaxSubscriptionBytes), int64(want.MaxSubscriptionBytes)},
		{"SendQueueBytes", got.SendQueueBytes, want.SendQueueBytes},
		{"PublisherQueueBytes", got.PublisherQueueBytes, want.PublisherQueueBytes},
		{"MaxPublisherSubscriptionBytes", got.MaxPublisherSubscriptionBytes, want.MaxPublisherSubscriptionBytes},
		{"HandshakeRate", int64(got.HandshakeRate), int64(want.HandshakeRate)},
	} {
		if f.got != f.want {
			t.Errorf("%s: the collector gives its sockets %d, the socket layer's default is %d", f.name, f.got, f.want)
		}
	}
}
