package topic

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSeverityOf(t *testing.T) {
	cases := map[string]Severity{
		"DEBUG": Debug, "DEBUG-4": Debug, "INFO": Info, "INFO+2.app": Info,
		"WARN": Warn, "WARNING": Warn, "WARN+2": Warn, "ERROR": Error, "ERROR+4.worker": Error,
		"DPANIC": DPanic, "PANIC.x": Panic, "FATAL": Fatal, "CRITICAL": Fatal,
		"": Unknown, "error": Unknown, "NOTICE": Unknown,
	}
	for topic, want := range cases {
		if got := SeverityOf(topic); got != want {
			t.Errorf("SeverityOf(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestMakeLevelApp(t *testing.T) {
	if got := Make("ERROR", "api.v2"); got != "ERROR.api.v2" || Level(got) != "ERROR" || App(got) != "api.v2" {
		t.Fatalf("Make = %q, Level %q, App %q", got, Level(got), App(got))
	}
	if got := Make("INFO", ""); got != "INFO" || App(got) != "" {
		t.Fatalf("Make without app = %q", got)
	}
}

// The prefixes AtLeast gives select exactly the topics at or above the
// level, as a ZeroMQ publisher matches them.
func TestAtLeastSelectsTheLevelAndAbove(t *testing.T) {
	topics := []string{"DEBUG", "DEBUG.a", "INFO", "INFO+2", "WARN", "WARNING", "WARN+3.a", "ERROR",
		"ERROR+4", "ERROR.a", "DPANIC", "PANIC", "FATAL", "CRITICAL"}
	for _, level := range ValidLevels() {
		prefixes, err := AtLeast(level)
		if err != nil {
			t.Fatal(err)
		}
		min, _ := Parse(level)
		for _, topic := range topics {
			matched := slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(topic, p) })
			if want := SeverityOf(topic) >= min; matched != want {
				t.Errorf("--level %s with prefixes %v: topic %q matched %v, want %v", level, prefixes, topic, matched, want)
			}
		}
	}
	if p, _ := AtLeast("Error"); !slices.Equal(p, []string{"ERROR", "DPANIC", "PANIC", "CRITICAL", "FATAL"}) {
		t.Errorf("AtLeast(error) = %v", p)
	}
}

func TestParseRefusesUnknownLevels(t *testing.T) {
	_, err := Parse("verbose")
	if err == nil || !strings.Contains(err.Error(), `"verbose"`) || !strings.Contains(err.Error(), "warning") {
		t.Fatalf("Parse(verbose) error %v: want it to name the level and list the valid ones", err)
	}
}

// An app name that is not valid UTF-8, or holds control characters, must
// not make every entry of that app unreadable: a collector skips entries
// whose topic is not valid UTF-8, and a terminal would act on the
// controls. The topic carries the name cleaned, the level untouched.
func TestMakeCleansTheAppName(t *testing.T) {
	for _, tc := range []struct{ app, want string }{
		{"checkout", "ERROR.checkout"},
		{"bad\xffname", "ERROR.bad\uFFFDname"},
		{"esc\x1b[2Jclear", "ERROR.esc\uFFFD[2Jclear"},
		{"c1\u009bcsi", "ERROR.c1\uFFFDcsi"},
		{strings.Repeat("é", 200), "ERROR." + strings.Repeat("é", 127)},
	} {
		got := Make("ERROR", tc.app)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("Make(ERROR, %q) = %q, want %q", tc.app, got, tc.want)
		}
	}
}
