package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
}

// The quickstart runs, shows the entries in the tail, and accounts for
// every one: sent by the apps, received and stored by the collector,
// shown by the tail, none dropped.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, false, 800*time.Millisecond, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"INFO  [shop] orders: order placed", "DEBUG [billing] invoice drafted", "region=eu-west"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	m := regexp.MustCompile(`shop \(zap\): +shipped (\d+), sent (\d+), dropped 0\n` +
		`billing \(slog\): shipped (\d+), sent (\d+), dropped 0\n` +
		`collector: +received (\d+), stored (\d+), lost in transit 0, published (\d+); the tail showed (\d+)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no summary in:\n%s", s)
	}
	if m[1] != m[2] || m[3] != m[4] || m[5] != m[6] || m[6] != m[7] || m[7] != m[8] || atoi(m[2])+atoi(m[4]) != atoi(m[5]) {
		t.Fatalf("numbers do not add up: %q", m[0])
	}
}

func atoi(s string) (n int) {
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
