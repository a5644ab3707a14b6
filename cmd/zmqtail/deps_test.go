package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The tail is a small tool: it links the socket layer and the printer,
// not the collector's store and metrics (Prometheus, lumberjack), which a
// laptop that only watches logs has no use for.
func TestTailDoesNotLinkTheCollector(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, unwanted := range []string{"github.com/prometheus/", "gopkg.in/natefinch/lumberjack", "github.com/zmqlog/zmqlog/collector"} {
			if strings.HasPrefix(pkg, unwanted) {
				t.Errorf("zmqtail links %s", pkg)
			}
		}
	}
}
