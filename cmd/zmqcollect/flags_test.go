package main

import (
	"context"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zmqlog/zmqlog/collector"
)

// With no flags, zmqcollect's Config is the library's Defaults: the only
// difference is the state file, which follows the store file.
func TestFlagDefaultsAreTheLibrarys(t *testing.T) {
	set, err := parseFlags(nil, io.Discard, io.Discard, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := collector.Defaults()
	want.StateFile = want.File + ".state"
	if !reflect.DeepEqual(set.cfg, want) {
		t.Fatalf("no flags give\n%+v\nthe library's defaults are\n%+v", set.cfg, want)
	}
}

// A flag set to 0 reaches the collector as 0: no drain, no idle pings,
// every rotated file kept; --state "" and --file "" turn the state off.
func TestZeroFlagsMeanOff(t *testing.T) {
	set, err := parseFlags([]string{"--drain", "0", "--idle-ping", "0", "--max-backups", "0", "--max-age", "0", "--state", ""}, io.Discard, io.Discard, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c := set.cfg; c.Drain != 0 || c.Limits.IdlePing != 0 || c.MaxBackups != 0 || c.MaxAgeDays != 0 || c.StateFile != "" {
		t.Fatalf("zeros gave Drain %v, IdlePing %v, MaxBackups %d, MaxAgeDays %d, StateFile %q", c.Drain, c.Limits.IdlePing, c.MaxBackups, c.MaxAgeDays, c.StateFile)
	}
	// The collector takes those zeros as they are, and with no drain
	// stops at once.
	cfg := set.cfg
	cfg.Pull, cfg.Pub, cfg.File = "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", filepath.Join(t.TempDir(), "store.jsonl")
	c, err := collector.New(cfg)
	if err != nil {
		t.Fatalf("collector.New with the zero flags: %v", err)
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(stopped); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		state string
	}{
		{[]string{"--file", ""}, ""},
		{[]string{"--file", "a.jsonl"}, "a.jsonl.state"},
		{[]string{"--file", "a.jsonl", "--state", "b.state"}, "b.state"},
	} {
		set, err := parseFlags(tc.args, io.Discard, io.Discard, 0)
		if err != nil {
			t.Fatal(err)
		}
		if set.cfg.StateFile != tc.state {
			t.Errorf("%q: state file %q, want %q", tc.args, set.cfg.StateFile, tc.state)
		}
	}
}
