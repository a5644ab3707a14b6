package web

import (
	"regexp"
	"regexp/syntax"
)

// Bounds on a grep pattern. Go's regexp runs in time linear in the text,
// but the factor is the size of the compiled program: a 253-byte pattern
// such as `[a-z]{0,999}` repeated 21 times compiles to ~42,000
// instructions and costs most of a second per 1 KiB entry. So the
// program is bounded, not only the pattern's length; a repeat count is
// bounded first, so that no huge program is ever built to be measured.
const (
	maxGrepBytes  = 256
	maxGrepRepeat = 100
	maxGrepInsts  = 300
)

// compileGrep compiles a client's grep pattern, refusing one whose
// program would be costly to run on every entry.
func compileGrep(s string) (*regexp.Regexp, error) {
	if len(s) > maxGrepBytes {
		return nil, badQuery("grep: a pattern of %d bytes, at most %d", len(s), maxGrepBytes)
	}
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return nil, badQuery("grep: %v", err)
	}
	if n := largestRepeat(re); n > maxGrepRepeat {
		return nil, badQuery("grep %q: a repeat count of %d, at most %d", s, n, maxGrepRepeat)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, badQuery("grep: %v", err)
	}
	if len(prog.Inst) > maxGrepInsts {
		return nil, badQuery("grep %q: too costly to run on every entry (%d instructions compiled, at most %d): use fewer or smaller repeats", s, len(prog.Inst), maxGrepInsts)
	}
	g, err := regexp.Compile(s)
	if err != nil {
		return nil, badQuery("grep: %v", err)
	}
	return g, nil
}

// largestRepeat is the largest {n,m} count in re.
func largestRepeat(re *syntax.Regexp) int {
	n := 0
	if re.Op == syntax.OpRepeat {
		n = max(re.Min, re.Max)
	}
	for _, sub := range re.Sub {
		n = max(n, largestRepeat(sub))
	}
	return n
}
