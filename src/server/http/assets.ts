/**
 * The dashboard's script and style sheet, embedded as strings so that `tsc` output carries them
 * and the server needs no files beside its code. Served from the same origin (the page's
 * Content-Security-Policy allows nothing else); the script builds every element with
 * `textContent`, never HTML, so a name is always text.
 */

/** `/dashboard.js`: follows `/events` and keeps the page's lists and counters current. */
export const DASHBOARD_JS = `'use strict';
(() => {
  const byId = (id) => document.getElementById(id);
  const usersEl = byId('users');
  const countEl = byId('online-count');
  const noteEl = byId('online-note');
  const logEl = byId('log-entries');
  const dropsEl = byId('drops');
  const statusEl = byId('connection');
  const userCap = Number(usersEl.dataset.cap) || 1000;
  const logCap = Number(logEl.dataset.cap) || 200;
  const users = new Map();
  let online = 0;

  const el = (tag, className, text) => {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = String(text);
    return e;
  };
  const two = (n) => String(n).padStart(2, '0');
  const timeEl = (iso) => {
    const t = el('time');
    const d = new Date(iso);
    t.dateTime = iso;
    t.textContent = Number.isNaN(d.getTime()) ? iso : two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
    return t;
  };
  const join = (parent, parts) => {
    parts.forEach((p, i) => {
      if (i > 0) parent.append(' ');
      parent.append(p);
    });
    return parent;
  };

  const userItem = (u) => {
    const li = el('li');
    li.dataset.name = u.name;
    const since = el('span', 'since', 'since ');
    since.append(timeEl(u.since));
    const parts = [el('span', 'name', u.name), el('span', 'protocol', u.protocol), el('span', 'status', u.status)];
    return join(li, parts.concat(el('span', 'endpoint', u.endpoint), since));
  };
  const showCount = () => {
    countEl.textContent = String(online);
    noteEl.hidden = users.size >= online;
    noteEl.textContent = 'Showing ' + users.size + ' of ' + online + '.';
  };
  const upsert = (u) => {
    const old = users.get(u.name);
    if (old) {
      const li = userItem(u);
      old.replaceWith(li);
      users.set(u.name, li);
    } else if (users.size < userCap) {
      const li = userItem(u);
      usersEl.append(li);
      users.set(u.name, li);
    }
  };
  const remove = (name) => {
    const li = users.get(name);
    if (li) {
      li.remove();
      users.delete(name);
    }
  };

  const logItem = (e) => {
    const li = el('li', e.level === 'warn' ? 'warn' : 'info');
    const parts = [timeEl(e.time), el('span', 'event', e.event)];
    for (const [k, v] of Object.entries(e.fields || {})) {
      const f = el('span', 'field', k + '=');
      f.append(el('span', 'value', v));
      parts.push(f);
    }
    return join(li, parts);
  };
  const addLog = (e) => {
    logEl.prepend(logItem(e));
    while (logEl.children.length > logCap) logEl.lastElementChild.remove();
  };

  const setCounters = (v) => {
    const c = v.counters || {};
    const drops = c.drops || {};
    const values = Object.assign({}, c, {
      'online-classic': (v.online || {}).classic,
      'online-qim': (v.online || {}).qim,
      'drops-total': Object.values(drops).reduce((a, b) => a + b, 0),
    });
    for (const dd of document.querySelectorAll('[data-counter]')) {
      const n = values[dd.dataset.counter];
      if (typeof n === 'number') dd.textContent = String(n);
    }
    dropsEl.replaceChildren(...Object.entries(drops).map(([reason, n]) => {
      const row = el('div');
      row.append(el('dt', '', reason), el('dd', '', n));
      return row;
    }));
  };

  const on = (source, name, handle) =>
    source.addEventListener(name, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      handle(data);
    });

  const connect = () => {
    const source = new EventSource('/events');
    source.addEventListener('open', () => {
      statusEl.textContent = 'Live';
    });
    source.addEventListener('error', () => {
      statusEl.textContent = 'Reconnecting…';
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
    on(source, 'snapshot', (s) => {
      users.clear();
      usersEl.replaceChildren();
      for (const u of s.users) upsert(u);
      online = s.online;
      showCount();
      logEl.replaceChildren();
      for (const e of s.log) addLog(e);
      setCounters(s.counters);
    });
    on(source, 'presence', (p) => {
      if (p.op === 'upsert') upsert(p.user);
      else remove(p.name);
      online = p.online;
      showCount();
    });
    on(source, 'log', addLog);
    on(source, 'counters', setCounters);
  };
  statusEl.textContent = 'Connecting…';
  connect();
})();
`;

/** `/dashboard.css`. */
export const DASHBOARD_CSS = `:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; }
header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
h1 { margin: 0; font-size: 1.5rem; }
#connection { margin: 0; color: GrayText; }
main { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); }
section { border: 1px solid color-mix(in srgb, currentColor 20%, transparent); border-radius: 0.5rem; padding: 0 1rem 1rem; }
#activity { grid-column: 1 / -1; }
h2 { font-size: 1.1rem; }
h3 { font-size: 1rem; }
ul, ol { list-style: none; margin: 0; padding: 0; }
#users li, #log-entries li { padding: 0.2rem 0; border-bottom: 1px solid color-mix(in srgb, currentColor 10%, transparent); overflow-wrap: anywhere; }
.name { font-weight: 600; }
.protocol, .status, .endpoint, .since, time { font-family: ui-monospace, monospace; font-size: 0.9em; }
.protocol, .status { padding: 0 0.3rem; border-radius: 0.3rem; background: color-mix(in srgb, currentColor 12%, transparent); }
#log-entries { max-height: 32rem; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 0.9em; }
#log-entries .event { font-weight: 600; }
#log-entries .warn .event { color: #b45309; }
.value { background: color-mix(in srgb, currentColor 8%, transparent); padding: 0 0.2rem; }
dl { display: grid; grid-template-columns: auto auto; gap: 0.2rem 1rem; margin: 0; }
dl div { display: contents; }
dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
`;
