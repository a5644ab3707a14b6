package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"go.uber.org/zap"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/procstat"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// These tests drive zmqcollect --http's page in a real browser: Debian's
// chromium, headless. Without it they skip, unless
// ZMQLOG_REQUIRE_CHROMIUM=1 (CI) makes that a failure.

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ZMQLOG_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("no chromium on PATH, and ZMQLOG_REQUIRE_CHROMIUM=1")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// openBrowser starts a headless chromium for the test; the returned
// context runs actions in its one tab.
func openBrowser(t *testing.T, ctx context.Context, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.WindowSize(width, height))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

func eval[T any](t *testing.T, bctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(bctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitPage waits, within d, for a JavaScript condition in the page.
func waitPage(t *testing.T, bctx context.Context, what, js string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		t.Fatalf("waiting %v for %s (%s): %v", d, what, js, err)
	}
}

// setFilter changes a filter control as a user does, firing its input
// event, and returns how long the page took to apply it (measured in the
// page).
func setFilter(t *testing.T, bctx context.Context, id, value string) float64 {
	t.Helper()
	return eval[float64](t, bctx, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('input')); return window.__zmqlog.lastFilterMs; })()`, id, value))
}

// waitHistory reads the collector's stream until it holds n entries: they
// are in the history, before any page opens.
func waitHistory(t *testing.T, ctx context.Context, page string, n int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", page+"api/stream?last=100000", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 16<<20)
	for seen := 0; seen < n && sc.Scan(); {
		seen += strings.Count(sc.Text(), `{"seq":`)
	}
}

const (
	pageTitle = "zmqlog — live"
	xssMsg    = `<script>document.title='pwned';window.__pwned=1</script>`
	xssImg    = `<img src=x onerror="document.title='pwned';window.__pwned=2">`
	xssApp    = `<img src=x onerror=window.__pwned=3>`
)

// One page, watched through a whole story: the history from before it
// opened, hostile entries shown as text, an ERROR arriving live, the level
// filter, the chart, the producers, the entry's JSON, the keyboard.
func TestPageInABrowser(t *testing.T) {
	chromiumPath(t)
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx, "--http", "127.0.0.1:0")

	shop, err := zapzmq.NewCore(c.pull, zapzmq.WithApp("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer shop.Close()
	log := zap.New(shop)
	evil, err := zapzmq.NewCore(c.pull, zapzmq.WithApp(xssApp))
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	evilLog := zap.New(evil)

	log.Info("before the page opened", zap.Int("n", 1))
	evilLog.Warn(xssMsg, zap.String(xssImg, xssImg), zap.String("html", `<b onmouseover=alert(1)>x</b>`))
	evilLog.Error(xssImg)
	shop.Sync()
	evil.Sync()
	waitHistory(t, ctx, c.page, 3)

	// The page's address serves /metrics too.
	res, err := http.Get(c.page + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "zmqlog_collector_entries_received_total") || !strings.Contains(string(body), "zmqlog_history_entries") {
		t.Errorf("GET %smetrics: %s, no collector or history metrics", c.page, res.Status)
	}

	bctx := openBrowser(t, ctx, 1280, 800)
	if err := chromedp.Do(bctx, chromedp.Navigate(c.page)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the history", `document.querySelectorAll('#rows tr').length >= 3`, 10*time.Second)
	if !eval[bool](t, bctx, `document.getElementById('rows').textContent.includes('before the page opened')`) {
		t.Error("the entry logged before the page opened is not shown")
	}

	// Hostile text is text: shown literally, nothing ran, no element made.
	checkNothingRan := func(when string) {
		t.Helper()
		if title := eval[string](t, bctx, `document.title`); title != pageTitle {
			t.Errorf("%s: title %q", when, title)
		}
		if eval[bool](t, bctx, `window.__pwned !== undefined`) {
			t.Errorf("%s: injected code ran (window.__pwned = %v)", when, eval[any](t, bctx, `window.__pwned`))
		}
		if n := eval[int](t, bctx, `document.querySelectorAll('main img, main script, main b, #apps img').length`); n != 0 {
			t.Errorf("%s: %d elements made from entries", when, n)
		}
	}
	checkNothingRan("on load")
	for _, s := range []string{xssMsg, xssImg, xssApp, `<b onmouseover=alert(1)>x</b>`} {
		if !eval[bool](t, bctx, fmt.Sprintf(`document.getElementById('rows').textContent.includes(%q)`, s)) {
			t.Errorf("the page does not show %q as text", s)
		}
	}
	// The entry's JSON, opened with the mouse and shown as text too.
	eval[bool](t, bctx, `(() => { for (const r of document.querySelectorAll('#rows tr')) if (r.textContent.includes('<script>')) { r.click(); return true; } return false; })()`)
	waitPage(t, bctx, "the entry's JSON", `!document.getElementById('detail').hidden`, 5*time.Second)
	if js := eval[string](t, bctx, `document.getElementById('json').textContent`); !strings.Contains(js, `"msg": "<script>`) || !strings.Contains(js, "\n  ") {
		t.Errorf("detail JSON not pretty-printed text: %q", js)
	}
	checkNothingRan("with the detail open")

	// An ERROR from a zap app appears within a second.
	start := time.Now()
	log.Error("card declined", zap.String("order", "A-17"))
	waitPage(t, bctx, "the live ERROR", `document.getElementById('rows').textContent.includes('card declined')`, time.Second)
	t.Logf("a live ERROR appeared in the page %v after it was logged", time.Since(start).Round(time.Millisecond))

	// The level filter hides INFO, and shows it again.
	ms := setFilter(t, bctx, "level", "4")
	if n := eval[int](t, bctx, `document.querySelectorAll('#rows tr.lv-INFO, #rows tr.lv-WARN').length`); n != 0 {
		t.Errorf("level error still shows %d INFO or WARN rows", n)
	}
	if !eval[bool](t, bctx, `document.getElementById('rows').textContent.includes('card declined')`) {
		t.Error("level error hides the ERROR")
	}
	log.Info("info while filtered")
	log.Error("error while filtered")
	shop.Sync()
	waitPage(t, bctx, "a new ERROR under the filter", `document.getElementById('rows').textContent.includes('error while filtered')`, 5*time.Second)
	if eval[bool](t, bctx, `document.getElementById('rows').textContent.includes('info while filtered')`) {
		t.Error("an INFO arriving under level error is shown")
	}
	ms2 := setFilter(t, bctx, "level", "0")
	if !eval[bool](t, bctx, `document.getElementById('rows').textContent.includes('info while filtered') && document.getElementById('rows').textContent.includes('before the page opened')`) {
		t.Error("level all does not show INFO again")
	}
	t.Logf("level filter applied in %.1f ms and %.1f ms (measured in the page)", ms, ms2)
	setFilter(t, bctx, "text", "/card|filtered/")
	if n := eval[int](t, bctx, `document.querySelectorAll('#rows tr').length`); n != 3 {
		t.Errorf("text filter /card|filtered/ shows %d rows, want 3", n)
	}
	setFilter(t, bctx, "text", "")

	// The chart and the producers, from the once-a-second stats.
	waitPage(t, bctx, "chart points", `window.__zmqlog.chartPoints > 0 && window.__zmqlog.chartTotal > 0`, 5*time.Second)
	waitPage(t, bctx, "the producers", `document.querySelector('#producers tbody').textContent.includes('shop')`, 5*time.Second)
	if !eval[bool](t, bctx, fmt.Sprintf(`document.querySelector('#producers tbody').textContent.includes(%q)`, xssApp)) {
		t.Error("the hostile app's name is not in the producers table as text")
	}
	checkNothingRan("after the stats")

	// The keyboard: / focuses the text filter, Escape leaves it, space
	// pauses.
	if err := chromedp.Do(bctx, chromedp.KeyEvent("/")); err != nil {
		t.Fatal(err)
	}
	if id := eval[string](t, bctx, `document.activeElement.id`); id != "text" {
		t.Errorf("after /, focus is on %q, want the text filter", id)
	}
	if err := chromedp.Do(bctx, chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent(" ")); err != nil {
		t.Fatal(err)
	}
	if p := eval[string](t, bctx, `document.getElementById('pause').getAttribute('aria-pressed')`); p != "true" {
		t.Errorf("space did not pause (aria-pressed %q)", p)
	}
	if v := eval[string](t, bctx, `document.getElementById('text').value`); v != "" {
		t.Errorf("the / that focused the text filter went into it: %q", v)
	}
	log.Error("while paused")
	shop.Sync()
	waitPage(t, bctx, "the count of new entries", `!document.getElementById('newbar').hidden && document.getElementById('newbar').textContent.startsWith('1 new')`, 5*time.Second)
	if err := chromedp.Do(bctx, chromedp.KeyEvent(kb.End)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "following again", `document.getElementById('rows').textContent.includes('while paused')`, 5*time.Second)

	// Light and dark follow the system's preference.
	scheme := func(s string) string {
		t.Helper()
		err := chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}}})
			return err
		}))
		if err != nil {
			t.Fatal(err)
		}
		return eval[string](t, bctx, `getComputedStyle(document.body).backgroundColor`)
	}
	if light, dark := scheme("light"), scheme("dark"); light != "rgb(255, 255, 255)" || dark == light {
		t.Errorf("background %s in light, %s in dark", light, dark)
	}
}

// At 20,000 entries a second for 10 s the page stays responsive: its rows
// stay under the cap, every position is either shown or counted as
// missed, and a filter change applies at once. The collector ingests the
// same with the page open as without.
func TestPageUnderLoad(t *testing.T) {
	chromiumPath(t)
	if testing.Short() {
		t.Skip("20 s of load")
	}
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx, "--http", "127.0.0.1:0", "--file", filepath.Join(t.TempDir(), "load.jsonl"))

	const rate, seconds = 20000, 10
	// load ships at rate for seconds and waits until the collector has
	// received every entry; it returns the entries and the collector's
	// CPU time per 100,000 of them.
	load := func(name string) (shipped int, cpuPer100k time.Duration) {
		s, err := zmqlog.NewShipper(c.pull, zmqlog.WithApp(name), zmqlog.WithBlock(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		base := c.metric(t, "zmqlog_collector_entries_received_total")
		cpu0 := procstat.ProcessCPU(t, c.cmd.Process.Pid)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		begin := time.Now()
		for time.Since(begin) < seconds*time.Second {
			<-tick.C
			for range rate / 100 {
				topic := "INFO." + name
				if shipped%50 == 0 {
					topic = "ERROR." + name
				}
				s.Ship(topic, fmt.Appendf(nil, `{"level":"info","msg":"load entry %d","user":"u%d","path":"/v1/orders"}`, shipped, shipped%97))
				shipped++
			}
		}
		s.Close()
		for c.metric(t, "zmqlog_collector_entries_received_total")-base < float64(shipped) {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: the collector received %v of %d", name, c.metric(t, "zmqlog_collector_entries_received_total")-base, shipped)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if got := c.metric(t, "zmqlog_collector_entries_received_total") - base; got != float64(shipped) {
			t.Errorf("%s: the collector received %v of %d", name, got, shipped)
		}
		return shipped, (procstat.ProcessCPU(t, c.cmd.Process.Pid) - cpu0) * 100000 / time.Duration(shipped)
	}

	without, cpuWithout := load("alone")

	bctx := openBrowser(t, ctx, 1280, 800)
	if err := chromedp.Do(bctx, chromedp.Navigate(c.page)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the page's first rows", `document.querySelectorAll('#rows tr').length > 0`, 10*time.Second)
	var filterTimes []float64
	done := make(chan struct{})
	var with int
	var cpuWith time.Duration
	go func() { defer close(done); with, cpuWith = load("watched") }()
	// While the load runs: change the filter now and then, as a user does.
	for i := 0; ; i++ {
		select {
		case <-done:
		case <-time.After(time.Second):
			level := []string{"4", "0"}[i%2]
			filterTimes = append(filterTimes, math.Round(setFilter(t, bctx, "level", level)))
			if level == "4" {
				if n := eval[int](t, bctx, `document.querySelectorAll('#rows tr.lv-INFO').length`); n != 0 {
					t.Errorf("under load, level error still shows %d INFO rows", n)
				}
			}
			continue
		}
		break
	}
	setFilter(t, bctx, "level", "0")
	// The page catches up with the collector: every position it passed is
	// a row it received or an entry it was told it missed.
	last := fmt.Sprint(without + with) // the collector numbers positions from 1, over both loads
	waitPage(t, bctx, "the page to catch up", `window.__zmqlog.lastSeq >= `+last, 30*time.Second)
	p := eval[map[string]float64](t, bctx, `window.__zmqlog`)
	if p["accounted"] != p["lastSeq"]-p["firstSeq"]+1 {
		t.Errorf("the page accounted for %v positions from %v to %v: some were neither shown nor counted missed", p["accounted"], p["firstSeq"], p["lastSeq"])
	}
	if p["maxRows"] > 1000 {
		t.Errorf("the page held %v rows, over its cap of 1000", p["maxRows"])
	}
	// Both loads were received whole (load checks); the collector's CPU
	// per entry says what serving the page cost it.
	t.Logf("ingest: %d entries without the page, %d with it open, all received; collector CPU per 100,000 entries: %v without, %v with the page",
		without, with, cpuWithout.Round(time.Millisecond), cpuWith.Round(time.Millisecond))
	t.Logf("the page: received %v, missed %v (told and counted), at most %v rows; filter changes applied in %v ms", p["received"], p["missed"], p["maxRows"], filterTimes)
	if m := c.metric(t, "zmqlog_http_entries_missed_total"); m != p["missed"] {
		t.Errorf("the collector counted %v missed, the page was told %v", m, p["missed"])
	}
}

// TestPageScreenshot makes docs/zmqcollect-page.png, the README's picture,
// when ZMQLOG_SCREENSHOT=1: a few apps at changing rates for half a
// minute, so the chart has a shape.
func TestPageScreenshot(t *testing.T) {
	if os.Getenv("ZMQLOG_SCREENSHOT") != "1" {
		t.Skip("set ZMQLOG_SCREENSHOT=1 to remake docs/zmqcollect-page.png")
	}
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx, "--http", "127.0.0.1:0")
	apps := map[string]*zap.Logger{}
	for _, name := range []string{"checkout", "api", "billing", "worker"} {
		core, err := zapzmq.NewCore(c.pull, zapzmq.WithApp(name))
		if err != nil {
			t.Fatal(err)
		}
		defer core.Close()
		apps[name] = zap.New(core)
	}
	bctx := openBrowser(t, ctx, 1440, 860)
	if err := chromedp.Do(bctx, chromedp.Navigate(c.page)); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/v1/orders", "/v1/cart", "/v1/users/42", "/healthz"}
	// A demo's pace, ten ticks a second for 45 s: the chart counts per
	// second, so this paces the picture; it waits for nothing.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range 450 {
		<-tick.C
		sec := i / 10
		n := 6 + int(4*math.Sin(float64(i)/40)) + sec%3
		for j := range n {
			l := apps[[]string{"api", "checkout", "worker", "api"}[(i+j)%4]]
			l.Info("request served", zap.String("method", "GET"), zap.String("path", paths[(i+j)%len(paths)]), zap.Int("status", 200), zap.Duration("took", time.Duration(3+(i*7+j)%40)*time.Millisecond))
		}
		if i%4 == 0 {
			apps["worker"].Debug("cache lookup", zap.String("key", fmt.Sprint("user:", i)), zap.Bool("hit", i%8 == 0))
		}
		if i%25 == 0 {
			apps["billing"].Warn("payment provider slow", zap.Duration("latency", time.Duration(900+i)*time.Millisecond), zap.String("provider", "acme-pay"))
		}
		if sec >= 30 && i%3 == 0 { // an incident, the last 15 s
			apps["checkout"].Error("card declined", zap.String("order", fmt.Sprint("A-", 1000+i)), zap.String("reason", "insufficient funds"))
		}
	}
	setFilter(t, bctx, "level", "3") // warnings and worse: the incident
	eval[bool](t, bctx, `(() => { const rs = document.querySelectorAll('#rows tr.lv-ERROR'); if (rs.length) rs[rs.length-1].click(); return true; })()`)
	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../../docs/zmqcollect-page.png", png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// With --http-token the page asks for the token until it is given in the
// URL's fragment, then sends it as a header, and takes it out of the
// address bar.
func TestPageWithAToken(t *testing.T) {
	chromiumPath(t)
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx, "--http", "127.0.0.1:0", "--http-token", "s3cret-t0ken")
	core, err := zapzmq.NewCore(c.pull, zapzmq.WithApp("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	zap.New(core).Error("behind the token")
	core.Sync()

	bctx := openBrowser(t, ctx, 1024, 700)
	if err := chromedp.Do(bctx, chromedp.Navigate(c.page)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the token notice", `!document.getElementById('auth').hidden`, 10*time.Second)
	if n := eval[int](t, bctx, `document.querySelectorAll('#rows tr').length`); n != 0 {
		t.Errorf("without the token the page shows %d rows", n)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(c.page+"#token=s3cret-t0ken")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the entry, with the token", `document.getElementById('rows').textContent.includes('behind the token')`, 10*time.Second)
	if u := eval[string](t, bctx, `location.href`); strings.Contains(u, "s3cret") {
		t.Errorf("the token is still in the address bar: %s", u)
	}
	if !eval[bool](t, bctx, `document.getElementById('auth').hidden`) {
		t.Error("the token notice is still shown")
	}
}

// Large entries are bounded in the page: a row shows the first 2 KiB of
// a message (the detail pane shows it whole), and what the page keeps is
// bounded in bytes, not only in entries.
func TestPageBoundsLargeEntries(t *testing.T) {
	chromiumPath(t)
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx, "--http", "127.0.0.1:0")
	core, err := zapzmq.NewCore(c.pull, zapzmq.WithApp("big"))
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	log := zap.New(core)

	bctx := openBrowser(t, ctx, 1280, 800)
	if err := chromedp.Do(bctx, chromedp.Navigate(c.page)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, bctx, "the stream", `document.getElementById('conn').textContent.includes('live')`, 10*time.Second)
	const n, size = 80, 300 << 10 // 24 MiB in all, over the page's 16 MiB
	for i := range n {
		log.Info(fmt.Sprintf("%d:%s", i, strings.Repeat("x", size)))
		if i%8 == 7 {
			core.Sync()
		}
	}
	core.Sync()
	waitPage(t, bctx, "every large entry", fmt.Sprintf(`window.__zmqlog.received >= %d`, n), 30*time.Second)
	if kept := eval[float64](t, bctx, `window.__zmqlog.keptBytes`); kept > 16<<20 || kept < size {
		t.Errorf("the page keeps %.0f bytes of entries; want at most 16 MiB (and the newest)", kept)
	}
	waitPage(t, bctx, "the newest row", fmt.Sprintf(`[...document.querySelectorAll('#rows td.msg')].some(td => td.textContent.startsWith('%d:'))`, n-1), 10*time.Second)
	longest := eval[float64](t, bctx, `Math.max(...[...document.querySelectorAll('#rows td.msg')].map(td => td.textContent.length))`)
	if longest > 2048+1+400 {
		t.Errorf("a row holds %.0f characters of message; want about 2 KiB", longest)
	}
	eval[bool](t, bctx, fmt.Sprintf(`(() => { [...document.querySelectorAll('#rows td.msg')].find(td => td.textContent.startsWith('%d:')).click(); return true; })()`, n-1))
	if got := eval[float64](t, bctx, `document.getElementById('json').textContent.length`); got < size {
		t.Errorf("the detail pane shows %.0f characters of a %d-byte message; want it whole", got, size)
	}
}
