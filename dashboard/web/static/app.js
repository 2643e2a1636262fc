// sentistream dashboard: polls the JSON API and redraws the panels in place. Every piece of text
// from the API is set with textContent or as an SVG <title> text node, never parsed as HTML.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const refreshMs = Math.max(500, parseInt(document.body.dataset.refreshMs, 10) || 2000);

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  const fmtNum = (n) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US');
  const fmtScore = (x) => (x === null || x === undefined) ? '–' : (x >= 0 ? '+' : '') + Number(x).toFixed(3);
  const fmtPct = (x) => (100 * x).toFixed(1) + '%';
  const fmtTime = (s) => { const d = new Date(s); return isNaN(d) ? '' : d.toLocaleTimeString('en-GB'); };
  const fmtDateTime = (s) => { const d = new Date(s); return isNaN(d) ? '' : d.toLocaleString('en-GB'); };
  function fmtAge(sec) {
    if (sec === null || sec === undefined) return '–';
    if (sec < 60) return Math.round(sec) + ' s ago';
    if (sec < 3600) return Math.round(sec / 60) + ' min ago';
    if (sec < 86400) return (sec / 3600).toFixed(1) + ' h ago';
    return (sec / 86400).toFixed(1) + ' days ago';
  }
  function change(node, delta, fmt) {
    node.classList.remove('up', 'down');
    if (delta === null || delta === undefined) { node.textContent = ''; return; }
    node.textContent = (delta > 0 ? '▲ ' : delta < 0 ? '▼ ' : '= ') + fmt(delta) + ' vs previous';
    if (delta > 0) node.classList.add('up');
    if (delta < 0) node.classList.add('down');
  }

  // api fetches a JSON endpoint; it resolves to {ok, status, body} and never rejects.
  async function api(path) {
    try {
      const res = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      return { ok: res.ok, status: res.status, body };
    } catch (e) {
      return { ok: false, status: 0, body: { error: 'the dashboard cannot be reached' } };
    }
  }
  // status shows or clears a panel's message; stale panels keep their last data, dimmed.
  function status(panelId, res) {
    const panel = $(panelId);
    const p = panel.querySelector('.panel-status');
    if (res.ok) { p.hidden = true; p.textContent = ''; panel.classList.remove('stale'); return true; }
    p.hidden = false;
    p.textContent = (res.body && res.body.error) || ('request failed (' + res.status + ')');
    panel.classList.add('stale');
    return false;
  }

  // Mood
  async function mood() {
    const res = await api('api/mood?window=' + encodeURIComponent($('mood-window').value));
    if (!status('mood', res)) return res.status !== 0;
    const m = res.body, c = m.current;
    $('mood-mean').textContent = fmtScore(c.mean);
    const lab = $('mood-label');
    lab.textContent = m.label || 'no messages';
    lab.className = 'badge ' + (m.label || '');
    $('mood-count').textContent = fmtNum(c.count);
    change($('mood-mean-change'), m.change.mean, (d) => (d >= 0 ? '+' : '') + d.toFixed(3));
    change($('mood-count-change'), m.change.count, (d) => (d >= 0 ? '+' : '') + fmtNum(d));
    for (const k of ['positive', 'neutral', 'negative']) {
      $('mood-' + k).textContent = fmtNum(c[k]);
      $('mood-' + k + '-share').textContent = c.count ? fmtPct(c.share[k]) : '';
      change($('mood-' + k + '-change'), m.previous.count ? m.change.share[k] : null, (d) => (d >= 0 ? '+' : '') + fmtPct(d));
      $('mood-bar').querySelector('.' + k).style.width = (c.count ? 100 * c.share[k] : 0) + '%';
    }
    future($('mood-future'), m.future);
    return true;
  }

  // future shows, under a panel, how many future-dated messages it leaves out.
  function future(node, n) {
    node.hidden = !n;
    node.textContent = n ? (n === 1 ? '1 message dated in the future is' : fmtNum(n) + ' messages dated in the future are') +
      ' left out (a producer\'s clock or time zone is off)' : '';
  }

  // searchFor runs the search panel's search for text, as if typed.
  function searchFor(text) {
    $('search-q').value = text;
    search();
    $('search').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  // Drivers: the terms over-represented in negative and in positive messages of the mood window.
  async function drivers() {
    const win = $('mood-window');
    const res = await api('api/drivers?window=' + encodeURIComponent(win.value));
    if (!status('drivers', res)) return res.status !== 0;
    const d = res.body;
    $('drivers-window').textContent = 'last ' + win.options[win.selectedIndex].text;
    for (const side of ['negative', 'positive']) {
      const items = d[side].map((x) => {
        const li = el('li', { 'data-term': x.term });
        const b = el('button', { type: 'button', class: 'term', title: 'search for ' + x.term }, x.term);
        // A phrase is searched as a phrase.
        b.addEventListener('click', () => searchFor(x.term.includes(' ') ? '"' + x.term + '"' : x.term));
        li.appendChild(b);
        const bar = svg('svg', { viewBox: '0 0 60 8', 'aria-hidden': 'true' });
        bar.appendChild(svg('rect', { class: 'track', x: 0, y: 0, width: 60, height: 8, rx: 2 }));
        bar.appendChild(svg('rect', { class: 'fill', x: 0, y: 0, width: Math.max(1, 60 * x.share), height: 8, rx: 2 }));
        li.appendChild(bar);
        li.appendChild(el('span', { class: 'nums count' }, fmtNum(x.count) + ' · ' + fmtPct(x.share)));
        li.appendChild(el('span', { class: 'nums mean', title: 'mean compound of the ' + x.mentions + ' messages naming it' }, 'mean ' + fmtScore(x.mean)));
        const ch = el('span', { class: 'change' });
        change(ch, x.change.count, (v) => (v >= 0 ? '+' : '') + fmtNum(v));
        li.appendChild(ch);
        return li;
      });
      const list = $('drivers-' + side);
      list.replaceChildren(...items);
      if (!items.length) list.appendChild(el('li', { class: 'muted' }, d.current[side] ? 'nothing stands out' : 'no ' + side + ' messages'));
    }
    return true;
  }

  // Timeline: stacked bars (volume by label) and the mean compound as a line on a −1…1 scale.
  async function timeline() {
    const res = await api('api/timeline?range=' + encodeURIComponent($('timeline-range').value));
    if (!status('timeline', res)) return res.status !== 0;
    const t = res.body, b = t.buckets, W = 900, H = 240, top = 10, bottom = 22, left = 44, right = 36;
    const ch = H - top - bottom, cw = W - left - right;
    const maxCount = Math.max(1, ...b.map((x) => x.count));
    const bw = cw / Math.max(1, b.length);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'timeline', class: 'timeline' });
    const title = svg('title'); title.textContent = 'messages per ' + (t.step_seconds / 60) + ' min and mean compound'; root.appendChild(title);
    // grid and axes
    for (const f of [0, 0.5, 1]) {
      const y = top + ch * (1 - f);
      root.appendChild(svg('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
      const tl = svg('text', { x: left - 4, y: y + 4, 'text-anchor': 'end', class: 'axis' }); tl.textContent = fmtNum(Math.round(maxCount * f)); root.appendChild(tl);
      const tr = svg('text', { x: W - right + 4, y: y + 4, class: 'axis mean' }); tr.textContent = (2 * f - 1).toFixed(1); root.appendChild(tr);
    }
    const bars = svg('g', { class: 'bars' });
    b.forEach((x, i) => {
      let y = top + ch;
      const g = svg('g', { 'data-start': x.start, 'data-count': x.count });
      const tip = svg('title');
      tip.textContent = `${fmtDateTime(x.start)}: ${x.count} messages (${x.positive} positive, ${x.neutral} neutral, ${x.negative} negative), mean ${fmtScore(x.mean)}`;
      g.appendChild(tip);
      for (const k of ['negative', 'neutral', 'positive']) {
        if (!x[k]) continue;
        const h = ch * x[k] / maxCount;
        y -= h;
        g.appendChild(svg('rect', { x: left + i * bw + 0.5, y, width: Math.max(1, bw - 1), height: h, class: k }));
      }
      bars.appendChild(g);
    });
    root.appendChild(bars);
    let d = '', pen = false;
    b.forEach((x, i) => {
      if (x.mean === null) { pen = false; return; }
      const px = left + (i + 0.5) * bw, py = top + ch * (1 - (x.mean + 1) / 2);
      d += (pen ? 'L' : 'M') + px.toFixed(1) + ' ' + py.toFixed(1) + ' ';
      pen = true;
    });
    if (d) root.appendChild(svg('path', { d, class: 'mean-line' }));
    const ticks = Math.min(6, b.length);
    for (let k = 0; k < ticks; k++) {
      const i = Math.round(k * (b.length - 1) / Math.max(1, ticks - 1));
      const x = svg('text', { x: left + (i + 0.5) * bw, y: H - 6, 'text-anchor': 'middle', class: 'axis' });
      const dt = new Date(b[i].start);
      x.textContent = t.step_seconds >= 86400 ? dt.toLocaleDateString('en-GB') : (t.step_seconds >= 3600 ? dt.toLocaleString('en-GB', { day: '2-digit', hour: '2-digit', minute: '2-digit' }) : dt.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' }));
      root.appendChild(x);
    }
    $('timeline-chart').replaceChildren(root);
    $('timeline-step').textContent = '· ' + (t.step_seconds >= 3600 ? (t.step_seconds / 3600) + ' h' : (t.step_seconds / 60) + ' min') + ' buckets';
    future($('timeline-future'), t.future);
    return true;
  }

  function messageItem(m, spans) {
    const li = el('li', { 'data-key': m.key || m.id || '' });
    const meta = el('div', { class: 'meta' });
    meta.appendChild(el('span', { class: 'badge ' + (m.label || '') }, m.label || '?'));
    meta.appendChild(el('span', { class: 'score' }, fmtScore(m.compound)));
    meta.appendChild(el('time', { datetime: m.created_at }, fmtDateTime(m.created_at)));
    if (m.future) {
      li.classList.add('future');
      meta.appendChild(el('span', { class: 'badge future', title: 'created_at is ahead of now: the producer\'s clock or time zone is off' }, 'dated in the future'));
    }
    li.appendChild(meta);
    const text = el('p', { class: 'text' });
    if (spans && spans.length) {
      for (const s of spans) text.appendChild(s.match ? el('mark', {}, s.text) : document.createTextNode(s.text));
    } else {
      text.textContent = m.sentence;
    }
    li.appendChild(text);
    return li;
  }

  // Latest messages
  let seenLatest = null;
  async function latest() {
    const res = await api('api/latest?limit=30');
    if (!status('latest', res)) return res.status !== 0;
    const ids = new Set();
    const items = res.body.messages.map((m) => {
      ids.add(m.id);
      const li = messageItem(m);
      li.dataset.id = m.id;
      if (seenLatest && !seenLatest.has(m.id)) li.classList.add('new');
      return li;
    });
    seenLatest = ids;
    const list = $('latest-list');
    list.replaceChildren(...items);
    if (!items.length) list.appendChild(el('li', { class: 'muted' }, 'no messages yet'));
    return true;
  }

  // Search
  let searchSeq = 0;
  async function search() {
    const q = $('search-q').value.trim(), label = $('search-label').value, range = $('search-range').value;
    if (!q && !label && !range) { $('search-count').textContent = ''; $('search-results').replaceChildren(); status('search', { ok: true }); return true; }
    const seq = ++searchSeq;
    const params = new URLSearchParams({ q, size: '20' });
    if (label) params.set('label', label);
    if (range) params.set('range', range);
    const res = await api('api/search?' + params.toString());
    if (seq !== searchSeq) return true; // a newer search is under way
    if (!status('search', res)) return res.status !== 0;
    const r = res.body;
    $('search-count').textContent = r.total === 1 ? '1 match' : fmtNum(r.total) + (r.total_at_least ? '+' : '') + ' matches' + (r.total > r.hits.length ? ', best ' + r.hits.length + ' shown' : '');
    $('search-results').replaceChildren(...r.hits.map((h) => messageItem(h, h.highlight)));
    return true;
  }

  // Pipeline
  async function pipeline() {
    const res = await api('api/pipeline');
    if (!status('pipeline', res)) return res.status !== 0;
    const p = res.body;
    const rate = (x) => (x === null || x === undefined) ? '–' : x.toFixed(1) + ' events/s';
    $('pipe-produced').textContent = rate(p.produced_per_second);
    $('pipe-scored').textContent = rate(p.scored_per_second);
    $('pipe-newest').textContent = fmtAge(p.newest_scored_age_seconds);
    $('pipe-indexed').textContent = fmtNum(p.indexed_docs);
    $('dlq-count').textContent = p.dead_letters ? fmtNum(p.dead_letters.count) : 'unknown';
    $('pipe-groups').tBodies[0].replaceChildren(...p.groups.map((g) => {
      const tr = el('tr', { class: 'status-' + g.status, 'data-group': g.group });
      tr.appendChild(el('td', {}, g.sink));
      tr.appendChild(el('td', {}, g.group));
      tr.appendChild(el('td', {}, g.state || '–'));
      tr.appendChild(el('td', {}, g.status === 'unknown' ? '–' : g.members));
      tr.appendChild(el('td', { class: 'lag' }, g.status === 'unknown' ? '–' : fmtNum(g.lag)));
      tr.appendChild(el('td', {}, g.partitions.map((x) => x.partition + ': ' + fmtNum(x.lag)).join('  ·  ')));
      tr.appendChild(el('td')).appendChild(el('span', { class: 'badge ' + g.status }, g.status));
      return tr;
    }));
    const dl = (p.dead_letters && p.dead_letters.latest) || [];
    $('dlq-latest').tBodies[0].replaceChildren(...dl.map((x) => {
      const tr = el('tr');
      tr.appendChild(el('td', {}, fmtDateTime(x.time)));
      tr.appendChild(el('td', {}, x.code || '–'));
      tr.appendChild(el('td', {}, x.reason || '–'));
      tr.appendChild(el('td', { title: x.source || '' }, x.id || (x.partition + '/' + x.offset)));
      tr.appendChild(el('td', { class: 'data' }, x.data || ''));
      return tr;
    }));
    const warn = $('warnings');
    warn.replaceChildren(...p.warnings.map((w) => el('li', {}, w)));
    return true;
  }

  // Mood shift: the watch function's verdict for this minute; a banner while the mood has shifted.
  async function shift() {
    const res = await api('api/shift');
    const banner = $('shift-banner');
    const v = res.ok && res.body;
    if (!v || !v.direction) { banner.hidden = true; return res.status !== 0; }
    const pct = (x) => Math.round(x * 100) + '%';
    banner.textContent = 'Mood shift (' + v.direction + '): ' + pct(v.current.negative_share) +
      ' of the last ' + Math.round((Date.parse(v.current.to) - Date.parse(v.current.from)) / 60000) +
      ' min negative, against ' + pct(v.baseline.negative_share) + ' before (z = ' + v.z.toFixed(1) + ').';
    banner.hidden = false;
    return true;
  }

  // The poll loop: all panels at once, then wait refreshMs, so slow answers never pile up.
  async function tick() {
    const results = await Promise.all([mood(), drivers(), timeline(), latest(), search(), pipeline(), shift()]);
    const reachable = results.every(Boolean);
    $('live-dot').className = 'dot ' + (reachable ? 'on' : 'off');
    $('live-text').textContent = reachable ? 'live · updated ' + new Date().toLocaleTimeString('en-GB') : 'dashboard unreachable, retrying…';
    setTimeout(tick, refreshMs);
  }

  $('mood-window').addEventListener('change', () => { mood(); drivers(); });
  $('timeline-range').addEventListener('change', timeline);
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); search(); });
  let debounce = null;
  $('search-q').addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(search, 300); });
  $('search-label').addEventListener('change', search);
  $('search-range').addEventListener('change', search);
  const initial = new URLSearchParams(location.search);
  if (initial.get('q')) $('search-q').value = initial.get('q');
  tick();
})();
