package slogzmq

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"
)

// nilError's Error method does not guard against a nil receiver.
type nilError struct{ msg string }

func (e *nilError) Error() string { return e.msg }

// recordFormat writes what slog.JSONHandler (and, for AddToDefault's
// stand-in, slog.TextHandler) writes, for chains of WithAttrs
// and WithGroup the collector test does not build: attributes after a
// group, groups left empty by ReplaceAttr, a source value among the
// attributes, values that panic.
func TestFormatMatchesSlogHandlersForEveryChain(t *testing.T) {
	dropAll := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) > 0 {
			return slog.Attr{}
		}
		return a
	}
	seeGroups := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && groups == nil {
			return slog.Attr{}
		}
		return slog.String(a.Key, strings.Join(groups, "/")+"="+a.Value.String())
	}
	type step = func(slog.Handler) slog.Handler
	attrs := func(as ...slog.Attr) step { return func(h slog.Handler) slog.Handler { return h.WithAttrs(as) } }
	group := func(name string) step { return func(h slog.Handler) slog.Handler { return h.WithGroup(name) } }
	var nilErr *nilError
	chains := map[string][]step{
		"none":                  nil,
		"attrs then group":      {attrs(slog.Int("a", 1)), group("g"), attrs(slog.Int("b", 2)), group("h")},
		"groups then attrs":     {group("g"), group("h"), attrs(slog.Int("a", 1))},
		"only empty groups":     {attrs(slog.Group("e")), group("g"), attrs(slog.Group("e"), slog.Group("f"))},
		"deep":                  {attrs(slog.Int("a", 1)), attrs(slog.Int("b", 2)), group("g"), attrs(slog.Int("c", 3)), attrs(slog.Int("d", 4)), group("h"), group("i")},
		"source among attrs":    {attrs(slog.Any("where", &slog.Source{File: "f.go", Line: 3}), slog.Any("none", &slog.Source{}))},
		"panicking values":      {attrs(slog.Any("nilerr", nilErr), slog.Any("bad", make(chan int)), slog.Float64("inf", math.Inf(1)))},
		"escapes in keys":       {group("g\"\n<"), attrs(slog.String("k\u2028\x01", "v\xff\u2029"))},
		"text values":           {group("a b"), attrs(slog.Any("bytes", []byte("x y")), slog.Any("ip", net.IPv4(10, 0, 0, 1)), slog.Time("t", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), slog.Float64("f", 0.1), slog.String("eq", "a=b"), slog.String("", ""))},
		"inline and lazy group": {attrs(slog.Group("", slog.Int("in", 1)), slog.Any("lazy", lazyGroup{}))},
	}
	at := time.Date(2026, 11, 27, 16, 0, 0, 5e6, time.UTC)
	records := []slog.Record{
		slog.NewRecord(at, slog.LevelInfo, "no attrs", 0),
		slog.NewRecord(time.Time{}, slog.LevelWarn+1, "zero time", 0),
	}
	r := slog.NewRecord(at, slog.LevelError, "attrs", 0)
	r.AddAttrs(slog.Int("x", 1), slog.Group("rg", slog.String("y", "z")), slog.Any("err", errors.New("boom")), slog.Duration("d", time.Second))
	records = append(records, r)
	for _, opts := range []slog.HandlerOptions{{}, {ReplaceAttr: dropAll}, {ReplaceAttr: seeGroups}, {AddSource: true}} {
		for name, chain := range chains {
			for _, text := range []bool{false, true} {
				testFormat(t, name, chain, opts, text, records)
			}
		}
	}
}

func testFormat(t *testing.T, name string, chain []func(slog.Handler) slog.Handler, opts slog.HandlerOptions, text bool, records []slog.Record) {
	var want bytes.Buffer
	var ref slog.Handler = slog.NewJSONHandler(&want, &opts)
	if text {
		ref = slog.NewTextHandler(&want, &opts)
	}
	ours := &Handler{attrs: &recordFormat{text: text, addSource: opts.AddSource, replace: opts.ReplaceAttr}}
	var got slog.Handler = ours
	for _, s := range chain {
		ref, got = s(ref), s(got)
	}
	for _, r := range records {
		want.Reset()
		if err := ref.Handle(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		out := string(got.(*Handler).attrs.format(nil, r))
		if w := strings.TrimSuffix(want.String(), "\n"); out != w {
			t.Errorf("%s, text %v, replace %v, source %v, %q:\n got %s\nwant %s", name, text, opts.ReplaceAttr != nil, opts.AddSource, r.Message, out, w)
		}
	}
}
