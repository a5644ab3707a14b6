// Package topic is zmqlog's topic scheme: the first frame of every message
// a collector publishes, and the key ZeroMQ subscribers filter on.
//
// A topic is the entry's level, upper-case as the logger prints it, then
// optionally a dot and the app name:
//
//	ERROR
//	ERROR.checkout
//	WARN.api.v2        (the app name may itself contain dots)
//	ERROR+4.worker     (slog's levels between the named ones)
//
// ZeroMQ subscriptions are byte prefixes, so a subscription to "ERROR"
// selects every ERROR entry of every app, "ERROR.checkout" one app's, and
// "this level and above" is a set of prefixes, one per level name at or
// above it (see AtLeast). Level names are chosen so that the prefix of a
// level never selects a lower one: "WARN" also matches Python's "WARNING"
// and slog's "WARN+2", both at warning severity or above; "PANIC" does not
// match "DPANIC".
package topic

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Delimiter separates the level from the app name.
const Delimiter = "."

// Heartbeat is the topic a collector publishes its stats on every second,
// so a subscriber can tell a quiet stream from a collector that is gone.
// It starts with "_", which no level name does, so no level subscription
// receives it; subscribe to it by name.
const Heartbeat = "_HEARTBEAT"

// Severity ranks level names across zap, slog and Python logging.
type Severity int

// Severities of the level names zmqlog knows.
const (
	Unknown Severity = iota
	Debug
	Info
	Warn
	Error
	DPanic
	Panic
	Fatal
)

// String returns the severity's canonical level name ("WARN" for Python's
// WARNING, "FATAL" for CRITICAL), or "OTHER" for Unknown.
func (s Severity) String() string {
	switch s {
	case Debug:
		return "DEBUG"
	case Info:
		return "INFO"
	case Warn:
		return "WARN"
	case Error:
		return "ERROR"
	case DPanic:
		return "DPANIC"
	case Panic:
		return "PANIC"
	case Fatal:
		return "FATAL"
	}
	return "OTHER"
}

// names lists every level name (as a topic prefix) and its severity, from
// the least severe up. Python's WARNING is covered by the WARN prefix.
var names = []struct {
	name string
	sev  Severity
}{
	{"DEBUG", Debug},
	{"INFO", Info},
	{"WARN", Warn},
	{"ERROR", Error},
	{"DPANIC", DPanic},
	{"PANIC", Panic},
	{"CRITICAL", Fatal}, // Python's most severe level
	{"FATAL", Fatal},
}

// Make returns the topic for an entry of the given level from app; app
// may be empty. The app name goes in as CleanName makes it, so a topic is
// valid UTF-8 (a collector skips entries whose topic is not) and has no
// control characters.
func Make(level, app string) string {
	if app == "" {
		return level
	}
	return level + Delimiter + CleanName(app)
}

// MaxName is the longest app or host name, in bytes, that topics and
// batch headers carry.
const MaxName = 255

// CleanName returns a producer's name (app or host) as topics and batch
// headers carry it: valid UTF-8, each invalid byte and each control
// character replaced by U+FFFD, cut to at most MaxName bytes between two
// characters. A name that already follows the rule is returned as it is.
func CleanName(s string) string {
	if len(s) <= MaxName && isCleanName(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte comes as utf8.RuneError, one byte wide
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxName {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isCleanName(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Level returns the level part of a topic: everything before the first
// delimiter.
func Level(topic string) string {
	if i := strings.Index(topic, Delimiter); i >= 0 {
		return topic[:i]
	}
	return topic
}

// App returns the app part of a topic, or "" when it has none.
func App(topic string) string {
	if i := strings.Index(topic, Delimiter); i >= 0 {
		return topic[i+len(Delimiter):]
	}
	return ""
}

// SeverityOf ranks a topic (or a bare level) by its level prefix: "ERROR+4"
// and "ERROR.app" are Error, "WARNING" is Warn, "DEBUG-4" is Debug. A
// level zmqlog does not know is Unknown.
func SeverityOf(topic string) Severity {
	// The first byte picks the candidate name: this runs for every entry
	// shipped.
	if topic == "" {
		return Unknown
	}
	var name string
	var sev Severity
	switch topic[0] {
	case 'D':
		if len(topic) > 1 && topic[1] == 'P' {
			name, sev = "DPANIC", DPanic
		} else {
			name, sev = "DEBUG", Debug
		}
	case 'I':
		name, sev = "INFO", Info
	case 'W':
		name, sev = "WARN", Warn
	case 'E':
		name, sev = "ERROR", Error
	case 'P':
		name, sev = "PANIC", Panic
	case 'C':
		name, sev = "CRITICAL", Fatal
	case 'F':
		name, sev = "FATAL", Fatal
	default:
		return Unknown
	}
	if strings.HasPrefix(topic, name) {
		return sev
	}
	return Unknown
}

// AtLeast returns the subscription prefixes that select entries of the
// given level and every more severe one, from every app. The level is
// case-insensitive: debug, info, warn, warning, error, dpanic, panic,
// fatal or critical. To keep one app, filter the received topics with App:
// a prefix per app cannot cover slog's offsets ("ERROR+4.app").
func AtLeast(level string) ([]string, error) {
	min, err := Parse(level)
	if err != nil {
		return nil, err
	}
	var prefixes []string
	for _, n := range names {
		if n.sev >= min {
			prefixes = append(prefixes, n.name)
		}
	}
	return prefixes, nil
}

// Parse reads a level name as a user types it on a command line.
func Parse(level string) (Severity, error) {
	switch strings.ToUpper(strings.TrimSpace(level)) {
	case "DEBUG", "TRACE":
		return Debug, nil
	case "INFO":
		return Info, nil
	case "WARN", "WARNING":
		return Warn, nil
	case "ERROR":
		return Error, nil
	case "DPANIC":
		return DPanic, nil
	case "PANIC":
		return Panic, nil
	case "FATAL", "CRITICAL":
		return Fatal, nil
	}
	return Unknown, fmt.Errorf("unknown level %q; valid levels: %s", level, strings.Join(ValidLevels(), ", "))
}

// ValidLevels lists the level names Parse accepts, least severe first.
func ValidLevels() []string {
	return []string{"debug", "info", "warn", "warning", "error", "dpanic", "panic", "fatal", "critical"}
}
