// zmqlog's live page. Everything a producer sent (messages, keys, values,
// app and host names) reaches the DOM through textContent or a property,
// never as markup: no innerHTML, no attribute or class built from it.
'use strict';

(() => {
  const MAX_KEPT = 5000; // entries kept in memory, for filter changes
  const MAX_KEPT_BYTES = 16 << 20; // and their JSON's length: a few large entries must not fill the tab
  const ROW_TEXT = 2048; // characters of a message shown in its row; the detail pane shows it whole
  const MAX_ROWS = 1000; // rows in the page: keeps it responsive at any rate
  const HISTORY = 1000; // entries asked for when the page opens
  const STALE_MS = 60000; // a producer not heard from this long stands out
  const SEV_NAMES = ['OTHER', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'DPANIC', 'PANIC', 'FATAL'];
  const $ = (id) => document.getElementById(id);

  // severity mirrors topic.SeverityOf: the level prefix of a topic.
  function severity(topic) {
    const prefixes = [['DPANIC', 5], ['DEBUG', 1], ['INFO', 2], ['WARN', 3], ['ERROR', 4], ['PANIC', 6], ['CRITICAL', 7], ['FATAL', 7]];
    for (const [p, s] of prefixes) if (topic.startsWith(p)) return s;
    return 0;
  }
  const appOf = (topic) => { const i = topic.indexOf('.'); return i < 0 ? '' : topic.slice(i + 1); };

  const state = {
    entries: [], // kept, oldest first
    keptBytes: 0, // what the kept entries' JSON took on the wire
    lastSeq: 0,
    paused: false, // by the user (button, space)
    scrolledUp: false, // the user scrolled away from the bottom
    unseen: 0, // entries that arrived while frozen
    missed: 0,
    filter: { sev: 0, app: '', text: '', re: null },
    apps: new Set(),
    token: null,
    needToken: false,
    pending: [], // arrived, not yet rendered
    renderQueued: false,
    selected: null,
  };
  // For the browser tests and for anyone curious: figures, never data.
  // accounted counts every position the stream passed on, sent or missed:
  // with no filter at the server it is lastSeq − firstSeq + 1.
  const probe = window.__zmqlog = { received: 0, rendered: 0, lastFilterMs: -1, chartPoints: 0, chartTotal: 0, statsEvents: 0,
    firstSeq: 0, lastSeq: 0, accounted: 0, maxRows: 0, missed: 0 };

  // The token comes in the URL's fragment, which the browser never sends:
  // it is kept for this tab only and removed from the address bar.
  function readToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      state.token = decodeURIComponent(m[1]);
      try { sessionStorage.setItem('zmqlog-token', state.token); } catch (e) { /* storage off: this load only */ }
      history.replaceState(null, '', location.pathname + location.search);
    } else {
      try { state.token = sessionStorage.getItem('zmqlog-token'); } catch (e) { state.token = null; }
    }
  }

  function setConn(text, cls) {
    const c = $('conn');
    c.textContent = text;
    c.className = 'conn ' + cls;
  }

  // ---- the stream: Server-Sent Events read with fetch, so the token can
  // go in a header (EventSource cannot send one).
  async function connect() {
    const q = state.lastSeq > 0 ? 'after=' + state.lastSeq : 'last=' + HISTORY;
    const headers = state.token ? { Authorization: 'Bearer ' + state.token } : {};
    let res;
    try {
      res = await fetch('/api/stream?stats=1&' + q, { headers, cache: 'no-store' });
    } catch (e) {
      return retry('collector unreachable');
    }
    if (res.status === 401) {
      $('auth').hidden = false;
      state.needToken = true;
      return retry('needs a token', 5000);
    }
    state.needToken = false;
    if (!res.ok || !res.body) return retry('refused (' + res.status + ')');
    $('auth').hidden = true;
    setConn('live', 'live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          dispatch(block);
        }
      }
    } catch (e) { /* connection lost */ }
    retry('reconnecting');
  }

  let retryTimer = 0;
  function retry(why, ms) {
    setConn(why, 'down');
    retryTimer = setTimeout(connect, ms || 1000);
  }

  // A token added to the URL of the open page (#token=…) is taken at
  // once, without a reload.
  function onHashChange() {
    readToken();
    if (state.needToken && state.token) {
      clearTimeout(retryTimer);
      connect();
    }
  }

  function dispatch(block) {
    let event = 'message', data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
      else if (line.startsWith('id: ')) state.lastSeq = Number(line.slice(4));
    }
    if (!data) return;
    const d = JSON.parse(data);
    if (event === 'entries') onEntries(d, data.length);
    else if (event === 'stats') onStats(d);
  }

  function onEntries(d, bytes) {
    const share = d.entries.length > 0 ? Math.ceil(bytes / d.entries.length) : 0; // each entry's part of the event
    if (probe.firstSeq === 0 && d.entries.length > 0) probe.firstSeq = d.entries[0].seq - d.missed;
    probe.accounted += d.missed + d.entries.length;
    probe.missed += d.missed;
    if (d.entries.length > 0) probe.lastSeq = d.entries[d.entries.length - 1].seq;
    if (d.missed > 0) {
      state.missed += d.missed;
      const m = $('missed');
      m.hidden = false;
      m.textContent = 'missed ' + state.missed.toLocaleString() + ' (this page was too slow; the collector counted them)';
    }
    for (const e of d.entries) {
      const entry = (e.entry && typeof e.entry === 'object') ? e.entry : {};
      const item = { seq: e.seq, t: e.t, topic: e.topic, sev: severity(e.topic), app: appOf(e.topic), entry, text: null, row: null, bytes: share };
      state.entries.push(item);
      state.keptBytes += share;
      probe.received++;
      if (item.app && state.apps.size < 500 && !state.apps.has(item.app)) {
        state.apps.add(item.app);
        const o = document.createElement('option');
        o.value = item.app;
        $('apps').appendChild(o);
      }
      if (matches(item)) state.pending.push(item);
    }
    // Bounded by count and by bytes; the newest entry is always kept.
    let drop = Math.max(0, state.entries.length - MAX_KEPT);
    for (let i = 0; i < drop; i++) state.keptBytes -= state.entries[i].bytes;
    while (state.keptBytes > MAX_KEPT_BYTES && drop < state.entries.length - 1) state.keptBytes -= state.entries[drop++].bytes;
    if (drop > 0) state.entries.splice(0, drop);
    probe.keptBytes = state.keptBytes;
    if (state.pending.length > MAX_ROWS) state.pending.splice(0, state.pending.length - MAX_ROWS);
    queueRender();
  }

  // ---- filtering
  function textOf(item) {
    if (item.text === null) item.text = item.topic + ' ' + JSON.stringify(item.entry);
    return item.text;
  }
  function matches(item) {
    const f = state.filter;
    if (f.sev > 0 && item.sev < f.sev) return false;
    if (f.app && item.app !== f.app) return false;
    if (f.re) return f.re.test(textOf(item));
    if (f.text) return textOf(item).toLowerCase().includes(f.text);
    return true;
  }
  function readFilter() {
    const f = state.filter;
    f.sev = Number($('level').value);
    f.app = $('app').value.trim();
    const t = $('text').value;
    f.re = null;
    f.text = '';
    $('text').removeAttribute('aria-invalid');
    if (t.length > 2 && t.startsWith('/') && t.endsWith('/')) {
      try { f.re = new RegExp(t.slice(1, -1), 'i'); } catch (e) { $('text').setAttribute('aria-invalid', 'true'); }
    } else {
      f.text = t.toLowerCase();
    }
  }
  function applyFilter() {
    const t0 = performance.now();
    readFilter();
    rebuild();
    probe.lastFilterMs = performance.now() - t0;
  }

  // ---- rendering
  function queueRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    requestAnimationFrame(render);
  }
  const frozen = () => state.paused || state.scrolledUp;

  function render() {
    state.renderQueued = false;
    const items = state.pending;
    state.pending = [];
    if (frozen()) {
      state.unseen += items.length;
      showUnseen();
      return;
    }
    const rows = $('rows');
    const frag = document.createDocumentFragment();
    for (const it of items) frag.appendChild(rowOf(it));
    rows.appendChild(frag);
    while (rows.childElementCount > MAX_ROWS) rows.firstElementChild.remove();
    probe.rendered += items.length;
    probe.maxRows = Math.max(probe.maxRows, rows.childElementCount);
    stickToBottom();
    updateCounts();
  }

  // rebuild redraws the rows from what is kept, as the filter says: the
  // newest FIRST_ROWS at once (more than a screen), the older ones a chunk
  // an animation frame after, so a filter change shows at once even at
  // the row cap.
  const FIRST_ROWS = 150;
  let rebuildGen = 0;
  function rebuild() {
    const gen = ++rebuildGen;
    const shown = []; // newest first
    for (let i = state.entries.length - 1; i >= 0 && shown.length < MAX_ROWS; i--) {
      if (matches(state.entries[i])) shown.push(state.entries[i]);
    }
    const rows = $('rows');
    const frag = document.createDocumentFragment();
    for (const it of shown.slice(0, FIRST_ROWS).reverse()) frag.appendChild(rowOf(it));
    rows.replaceChildren(frag);
    state.pending = [];
    state.unseen = 0;
    showUnseen();
    stickToBottom();
    updateCounts();
    let done = Math.min(FIRST_ROWS, shown.length);
    const older = () => {
      if (gen !== rebuildGen || done >= shown.length) return;
      const n = Math.min(FIRST_ROWS, shown.length - done, MAX_ROWS - rows.childElementCount);
      if (n <= 0) return;
      const f = document.createDocumentFragment();
      for (const it of shown.slice(done, done + n).reverse()) f.appendChild(rowOf(it));
      done += n;
      const log = $('log');
      const fromBottom = log.scrollHeight - log.scrollTop;
      rows.insertBefore(f, rows.firstChild);
      if (frozen()) log.scrollTop = log.scrollHeight - fromBottom; // the rows in view stay in view
      else stickToBottom();
      updateCounts();
      requestAnimationFrame(older);
    };
    requestAnimationFrame(older);
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    const p = (n, w) => String(n).padStart(w || 2, '0');
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
  }

  function entryTime(item) {
    const e = item.entry;
    for (const k of ['ts', 'time', 'timestamp']) {
      const v = e[k];
      if (typeof v === 'number') return v > 1e12 ? v : v * 1000;
      if (typeof v === 'string') { const t = Date.parse(v); if (!isNaN(t)) return t; }
    }
    return item.t;
  }

  const SKIP = new Set(['level', 'msg', 'message', 'ts', 'time', 'timestamp']);
  function rowOf(item) {
    if (item.row) return item.row;
    const tr = document.createElement('tr');
    tr.className = 'lv-' + SEV_NAMES[item.sev]; // from a fixed list, never from the entry
    tr.tabIndex = -1;
    tr.dataset.seq = String(item.seq);
    const td = (cls, text) => { const c = document.createElement('td'); c.className = cls; c.textContent = text; tr.appendChild(c); return c; };
    td('t', fmtTime(entryTime(item)));
    td('lv', item.topic.split('.')[0].slice(0, 12));
    td('app', item.app.slice(0, 40));
    const e = item.entry;
    const msg = typeof e.msg === 'string' ? e.msg : (typeof e.message === 'string' ? e.message : '');
    const cell = td('msg', msg.length > ROW_TEXT ? msg.slice(0, ROW_TEXT) + '…' : msg);
    let extra = '';
    for (const k of Object.keys(e)) {
      if (SKIP.has(k)) continue;
      const v = e[k];
      extra += ' ' + k + '=' + (typeof v === 'string' ? v : JSON.stringify(v));
      if (extra.length > 300) { extra = extra.slice(0, 300) + '…'; break; }
    }
    if (extra) {
      const s = document.createElement('span');
      s.className = 'k';
      s.textContent = extra;
      cell.appendChild(s);
    }
    item.row = tr;
    return tr;
  }

  function stickToBottom() {
    if (frozen()) return;
    const log = $('log');
    log.scrollTop = log.scrollHeight;
  }

  function showUnseen() {
    const b = $('newbar');
    b.hidden = state.unseen === 0;
    b.textContent = state.unseen.toLocaleString() + ' new ' + (state.unseen === 1 ? 'entry' : 'entries') + ' — End to follow';
  }

  function updateCounts() {
    $('counts').textContent = $('rows').childElementCount.toLocaleString() + ' shown of ' + state.entries.length.toLocaleString() + ' kept';
  }

  function resume() {
    state.paused = false;
    state.scrolledUp = false;
    $('pause').setAttribute('aria-pressed', 'false');
    $('pause').textContent = 'Pause';
    rebuild();
  }
  function togglePause() {
    if (state.paused) return resume();
    state.paused = true;
    $('pause').setAttribute('aria-pressed', 'true');
    $('pause').textContent = 'Resume';
  }

  // ---- detail
  function openDetail(item) {
    state.selected = item;
    for (const r of document.querySelectorAll('tr.sel')) r.classList.remove('sel');
    if (item.row) item.row.classList.add('sel');
    $('detail').hidden = false;
    $('detail-meta').textContent = 'topic ' + item.topic + ' · #' + item.seq + ' · arrived ' + new Date(item.t).toISOString();
    $('json').textContent = JSON.stringify(item.entry, null, 2);
  }
  // One listener for every row (rows come and go by the thousand).
  function onRowClick(ev) {
    const tr = ev.target.closest('tr');
    if (!tr) return;
    const seq = Number(tr.dataset.seq);
    const it = state.entries.find((x) => x.seq === seq);
    if (it) openDetail(it);
  }
  function closeDetail() {
    $('detail').hidden = true;
    if (state.selected && state.selected.row) state.selected.row.focus();
  }

  // ---- stats: chart and producers
  function onStats(d) {
    probe.statsEvents++;
    const s = d.shared || {};
    if (Array.isArray(s.rates)) drawChart(s.rates);
    if (Array.isArray(s.producers)) drawProducers(s.producers, s.now || Date.now());
  }

  const SERIES = [['DEBUG', (c) => c[2]], ['INFO', (c) => c[3]], ['WARN', (c) => c[4]], ['ERROR', (c) => c[5] + c[6] + c[7] + c[8]], ['OTHER', (c) => c[1]]];
  function drawChart(all) {
    // From the first second with entries (at least the last minute), so a
    // young collector's chart is not a flat line with a tail.
    let first = all.findIndex((r) => r.slice(1).some((n) => n > 0));
    if (first < 0) first = all.length;
    const rates = all.slice(Math.max(0, Math.min(first, all.length - 60)));
    const cv = $('chart');
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || 420, h = cv.clientHeight || 150;
    if (cv.width !== w * dpr) { cv.width = w * dpr; cv.height = h * dpr; }
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    let peak = 1, total = 0;
    for (const r of rates) for (const [, f] of SERIES) { peak = Math.max(peak, f(r)); total += f(r); }
    const x = (i) => (i / Math.max(1, rates.length - 1)) * (w - 40) + 36;
    const y = (v) => h - 14 - (v / peak) * (h - 24);
    g.fillStyle = css.getPropertyValue('--muted');
    g.font = '10px system-ui';
    g.fillText(String(peak), 2, 12);
    g.fillText('0', 2, h - 14);
    g.fillText(rates.length >= 300 ? '-5m' : '-' + rates.length + 's', 36, h - 2);
    g.fillText('now', w - 24, h - 2);
    for (const [name, f] of SERIES) {
      g.strokeStyle = css.getPropertyValue('--' + name.toLowerCase());
      g.lineWidth = 1.5;
      g.beginPath();
      rates.forEach((r, i) => (i ? g.lineTo(x(i), y(f(r))) : g.moveTo(x(i), y(f(r)))));
      g.stroke();
    }
    probe.chartPoints = rates.length;
    probe.chartTotal = total;
    const last = rates.length ? rates[rates.length - 1] : null;
    const legend = $('legend');
    legend.replaceChildren();
    for (const [name, f] of SERIES) {
      const s = document.createElement('span');
      s.className = name;
      s.textContent = name + ' ' + (last ? f(last) : 0) + '/s';
      legend.appendChild(s);
    }
  }

  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 60 ? s + 's ago' : s < 3600 ? Math.round(s / 60) + 'm ago' : Math.round(s / 3600) + 'h ago';
  }
  function drawProducers(ps, now) {
    const body = $('producers').tBodies[0];
    const frag = document.createDocumentFragment();
    for (const p of ps) {
      const tr = document.createElement('tr');
      const stale = now - p.last_seen > STALE_MS;
      if (stale) tr.className = 'stale';
      const td = (text, cls) => { const c = document.createElement('td'); c.textContent = text; if (cls) c.className = cls; tr.appendChild(c); };
      td(p.app);
      td(p.host);
      td(String(p.pid), 'n');
      td(p.received.toLocaleString(), 'n');
      td(p.lost.toLocaleString(), p.lost > 0 ? 'n bad' : 'n');
      td(p.dropped.toLocaleString(), p.dropped > 0 ? 'n bad' : 'n');
      td(ago(now - p.last_seen) + (stale ? ' (stale)' : ''));
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
  }

  // ---- keyboard and scrolling
  function move(delta) {
    const rows = $('rows');
    let cur = document.activeElement && document.activeElement.parentElement === rows ? document.activeElement : null;
    if (!cur) cur = delta < 0 ? rows.lastElementChild : rows.firstElementChild;
    else cur = delta < 0 ? (cur.previousElementSibling || cur) : (cur.nextElementSibling || cur);
    if (!cur) return;
    if (!state.paused) togglePause(); // moving through rows holds them still
    cur.focus();
    cur.scrollIntoView({ block: 'nearest' });
  }
  function onKey(ev) {
    const inField = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement;
    if (ev.key === 'Escape') {
      if (inField) ev.target.blur();
      else if (!$('detail').hidden) closeDetail();
      return;
    }
    if (inField || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    switch (ev.key) {
      case '/': ev.preventDefault(); swallowSlash = true; $('text').focus(); $('text').select(); break;
      case ' ': if (ev.target.tagName !== 'BUTTON') { ev.preventDefault(); togglePause(); } break;
      case 'j': case 'ArrowDown': ev.preventDefault(); move(1); break;
      case 'k': case 'ArrowUp': ev.preventDefault(); move(-1); break;
      case 'End': ev.preventDefault(); resume(); break;
      case 'Enter': {
        const el = document.activeElement;
        if (el && el.parentElement === $('rows')) {
          const seq = Number(el.dataset.seq);
          const it = state.entries.find((x) => x.seq === seq);
          if (it) { ev.preventDefault(); openDetail(it); }
        }
        break;
      }
    }
  }
  // The / that moves the focus must not land in the field it focused: a
  // browser may still deliver its character there.
  let swallowSlash = false;
  function onKeypress(ev) {
    if (swallowSlash && ev.key === '/') ev.preventDefault();
    swallowSlash = false;
  }

  function onScroll() {
    const log = $('log');
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 30;
    if (atBottom && state.scrolledUp && !state.paused) resume();
    else if (!atBottom) state.scrolledUp = true;
  }

  function start() {
    readToken();
    for (const id of ['level', 'app', 'text']) $(id).addEventListener('input', applyFilter);
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    $('pause').addEventListener('click', togglePause);
    $('newbar').addEventListener('click', resume);
    $('close').addEventListener('click', closeDetail);
    $('log').addEventListener('scroll', onScroll, { passive: true });
    $('rows').addEventListener('click', onRowClick);
    document.addEventListener('keydown', onKey);
    window.addEventListener('hashchange', onHashChange);
    $('text').addEventListener('keypress', onKeypress);
    document.addEventListener('keyup', () => { swallowSlash = false; });
    readFilter();
    updateCounts();
    connect();
  }
  start();
})();
