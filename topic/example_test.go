package topic_test

import (
	"fmt"
	"strings"

	"github.com/zmqlog/zmqlog/topic"
)

// A subscriber that wants warnings and worse subscribes to every prefix
// AtLeast returns; ZeroMQ then delivers only topics starting with one of
// them. Python's WARNING and slog's ERROR+4 fall under WARN and ERROR;
// INFO and DEBUG entries are never sent to it.
func ExampleAtLeast() {
	prefixes, err := topic.AtLeast("warn")
	if err != nil {
		panic(err)
	}
	fmt.Println(prefixes)

	selected := func(t string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(t, p) {
				return true
			}
		}
		return false
	}
	for _, t := range []string{
		topic.Make("ERROR", "checkout"),
		"WARNING.billing", // from Python's logging
		"ERROR+4.worker",  // from slog, between ERROR and the next name
		topic.Make("INFO", "checkout"),
		"DEBUG",
	} {
		fmt.Printf("%-16s %v\n", t, selected(t))
	}

	_, err = topic.AtLeast("loud")
	fmt.Println(err)
	// Output:
	// [WARN ERROR DPANIC PANIC CRITICAL FATAL]
	// ERROR.checkout   true
	// WARNING.billing  true
	// ERROR+4.worker   true
	// INFO.checkout    false
	// DEBUG            false
	// unknown level "loud"; valid levels: debug, info, warn, warning, error, dpanic, panic, fatal, critical
}
