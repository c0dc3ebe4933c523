// The incidents page: filters, keyset-paged table, detail panel, CSV
// link, charts and live arrivals, all from /portal/api/ (see
// sql/functions/portal_api.sql for what each route answers).  Every value from the
// API reaches the page through textContent or attributes, never as HTML.
'use strict';

(function () {
    var API = '/portal/api/';
    var LOGIN = '/portal/login.html';
    var PAGE_SIZE = 50;
    var SEVERITIES = ['SEVERE', 'HIGH', 'MODERATE', 'LOW', 'INFO'];

    var $ = function (id) { return document.getElementById(id); };

    var state = {
        filters: {},            // as in the page's query string
        next: null,             // keyset cursor of the next page
        shown: new Map(),       // report id -> its <tr>
        categories: new Set(),
        loading: 0,             // generation of the list being loaded
        opener: null,           // the element that opened the detail panel
        statsTimer: null,
        stats: null             // the last /stats answer, for redraws
    };


    /* the API */

    function ApiError(status, message) {
        this.status = status;
        this.message = message;
    }

    function signedOut() {
        var here = location.pathname + location.search;
        location.replace(LOGIN + '?next=' + encodeURIComponent(here)
                         + (hashedIncident() ? location.hash : ''));
    }

    function api(path, options) {
        options = options || {};
        options.credentials = 'same-origin';
        options.headers = Object.assign({ Accept: 'application/json' },
                                        options.headers || {});
        return fetch(API + path, options).then(function (res) {
            return res.json().catch(function () { return null; })
                .then(function (body) {
                    if (res.status === 401) {
                        signedOut();
                        throw new ApiError(401, 'Signed out.');
                    }
                    if (!res.ok) {
                        throw new ApiError(res.status,
                            body && typeof body.error === 'string'
                                ? body.error
                                : 'The server answered HTTP ' + res.status + '.');
                    }
                    return body;
                });
        }, function () {
            throw new ApiError(0, 'The portal could not be reached.');
        });
    }


    /* filters: the page's query string holds them as typed (dates as
       YYYY-MM-DD); the API gets instants (local midnight, "to" inclusive) */

    var FILTER_NAMES = ['site', 'severity', 'category', 'from', 'to', 'q'];

    function readFiltersFromUrl() {
        var params = new URLSearchParams(location.search);
        var f = {};
        FILTER_NAMES.forEach(function (name) {
            var v = params.get(name);
            if (v !== null && v.trim() !== '') {
                f[name] = v.trim();
            }
        });
        return f;
    }

    function readFiltersFromForm() {
        var form = $('filters');
        var f = {};
        FILTER_NAMES.forEach(function (name) {
            var v = form.elements[name].value.trim();
            if (v !== '') {
                f[name] = v;
            }
        });
        return f;
    }

    function fillForm(f) {
        var form = $('filters');
        FILTER_NAMES.forEach(function (name) {
            var el = form.elements[name];
            var v = f[name] || '';
            if (el.tagName === 'SELECT' && v !== ''
                && !el.querySelector('option[value="' + CSS.escape(v) + '"]')) {
                // a site not (yet) in the list: keep it selectable
                var o = document.createElement('option');
                o.value = v;
                o.textContent = 'Site ' + v;
                el.appendChild(o);
            }
            el.value = v;
        });
    }

    function localDay(day, plusDays) {
        var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || '');
        if (!m) {
            return null;
        }
        var d = new Date(+m[1], +m[2] - 1, +m[3] + (plusDays || 0));
        return isNaN(d.getTime()) ? null : d;
    }

    function apiParams(f) {
        var p = new URLSearchParams();
        ['site', 'severity', 'category', 'q'].forEach(function (name) {
            if (f[name]) {
                p.set(name, f[name]);
            }
        });
        var from = localDay(f.from, 0);
        var to = localDay(f.to, 1);
        if (from) {
            p.set('from', from.toISOString());
        }
        if (to) {
            p.set('to', to.toISOString());
        }
        return p;
    }

    function matchesFilters(item, f) {
        if (f.site && String(item.site && item.site.id) !== f.site) {
            return false;
        }
        if (f.severity && item.severity !== f.severity) {
            return false;
        }
        if (f.category && item.category !== f.category) {
            return false;
        }
        var at = new Date(item.occurred_at);
        var from = localDay(f.from, 0);
        var to = localDay(f.to, 1);
        if ((from && at < from) || (to && at >= to)) {
            return false;
        }
        return true;
    }


    /* formatting */

    function formatTime(iso, zone) {
        var d = new Date(iso);
        if (isNaN(d.getTime())) {
            return iso || '';
        }
        var opts = { year: 'numeric', month: 'short', day: 'numeric',
                     hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
                     timeZoneName: 'short' };
        try {
            return new Intl.DateTimeFormat(undefined, Object.assign(
                { timeZone: zone || undefined }, opts)).format(d);
        } catch (e) {
            return new Intl.DateTimeFormat(undefined, opts).format(d);
        }
    }

    function formatQuantity(q) {
        var n = Number(q);
        if (!isFinite(n)) {
            return String(q);
        }
        return Number.isInteger(n) ? n.toFixed(1) : String(n);
    }

    function billingMarker(b) {
        return b.code + ' \u00d7 ' + formatQuantity(b.quantity);
    }

    function titleCase(s) {
        s = String(s || '');
        return s.charAt(0) + s.slice(1).toLowerCase();
    }

    function el(tag, attrs, children) {
        var node = document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) {
            if (k === 'text') {
                node.textContent = attrs[k];
            } else if (k === 'className') {
                node.className = attrs[k];
            } else {
                node.setAttribute(k, attrs[k]);
            }
        });
        (children || []).forEach(function (c) {
            if (c !== null && c !== undefined) {
                node.appendChild(typeof c === 'string'
                                 ? document.createTextNode(c) : c);
            }
        });
        return node;
    }

    function severityBadge(sev) {
        if (!sev) {
            return el('span', { className: 'muted', text: '—' });
        }
        return el('span', { className: 'sev sev-' + String(sev).toLowerCase(),
                            text: titleCase(sev) });
    }

    function billingList(billing) {
        if (!billing || billing.length === 0) {
            return el('span', { className: 'muted', text: 'Not billed' });
        }
        return el('ul', { className: 'markers' }, billing.map(function (b) {
            return el('li', { className: 'marker', text: billingMarker(b) });
        }));
    }


    /* the table */

    function row(item, isNew) {
        var open = el('button', { type: 'button', className: 'link open',
                                  'data-id': String(item.id),
                                  'aria-controls': 'detail' },
                      ['#' + item.id,
                       el('span', { className: 'visually-hidden',
                                    text: ': show the details' })]);
        // each cell holds one wrapper, so a phone card lays it out as
        // "label | value" whatever the value is made of
        function cell(label, children) {
            return el('td', { 'data-label': label },
                      [el('div', { className: 'cell' }, children)]);
        }
        var tr = el('tr', { 'data-id': String(item.id),
                            className: isNew ? 'is-new' : '' }, [
            cell('Report', [open, isNew ? el('span', { className: 'new-badge',
                                                       text: 'New' })
                                        : null]),
            cell('Occurred', [el('time', {
                datetime: item.occurred_at,
                text: formatTime(item.occurred_at, item.time_zone) })]),
            cell('Site', [item.site ? item.site.name : '']),
            cell('Post', [item.post && item.post.name ? item.post.name
                                                      : '\u2014']),
            cell('Category', [item.category || '\u2014']),
            cell('Severity', [severityBadge(item.severity)]),
            cell('Billing', [billingList(item.billing)]),
            cell('Photos', [String(item.photos || 0)])
        ]);
        if (item.category) {
            addCategory(item.category);
        }
        return tr;
    }

    function addCategory(c) {
        if (!state.categories.has(c)) {
            state.categories.add(c);
            $('categories').appendChild(el('option', { value: c }));
        }
    }

    function showListError(err) {
        var p = $('list-error');
        p.textContent = err && err.message ? err.message : String(err);
        p.hidden = false;
    }

    function updateEmpty() {
        $('empty').hidden = state.shown.size !== 0;
    }

    function loadPage(reset) {
        var gen = reset ? ++state.loading : state.loading;
        var params = apiParams(state.filters);
        params.set('limit', String(PAGE_SIZE));
        if (!reset && state.next) {
            params.set('cursor', state.next);
        }
        var more = $('load-more');
        more.disabled = true;
        more.textContent = 'Loading…';
        $('incidents').setAttribute('aria-busy', 'true');

        return api('incidents?' + params.toString()).then(function (page) {
            if (gen !== state.loading) {
                return;             // filters changed meanwhile
            }
            var body = $('incident-rows');
            if (reset) {
                body.textContent = '';
                state.shown.clear();
            }
            $('list-error').hidden = true;
            page.items.forEach(function (item) {
                if (!state.shown.has(item.id)) {
                    var tr = row(item, false);
                    state.shown.set(item.id, tr);
                    body.appendChild(tr);
                }
            });
            state.next = page.next || null;
            more.hidden = !state.next;
            updateEmpty();
        }).catch(function (err) {
            if (gen === state.loading) {
                showListError(err);
            }
        }).then(function () {
            more.disabled = false;
            more.textContent = 'Load more';
            $('incidents').removeAttribute('aria-busy');
        });
    }


    /* the detail panel */

    // the incident a link names (#incident=ID: the links in notification
    // mails), or null
    function hashedIncident() {
        var m = /^#incident=([0-9]{1,18})$/.exec(location.hash);
        return m ? m[1] : null;
    }

    function openHashedIncident() {
        var id = hashedIncident();
        if (id !== null) {
            openDetail(id, null);
        }
    }

    function closeDetail() {
        var panel = $('detail');
        if (panel.hidden) {
            return;
        }
        panel.hidden = true;
        document.body.classList.remove('detail-open');
        setBehindInert(false);
        document.querySelectorAll('#incident-rows tr.selected')
            .forEach(function (tr) { tr.classList.remove('selected'); });
        if (state.opener && document.contains(state.opener)) {
            state.opener.focus();
        }
        state.opener = null;
        // closed: a reload should not open it again
        if (hashedIncident() !== null) {
            history.replaceState(null, '', location.pathname + location.search);
        }
    }

    // where the panel covers the whole screen (a phone), what is behind
    // it must not take focus or clicks
    var fullScreenPanel = window.matchMedia('(max-width: 63.99rem)');

    function setBehindInert(on) {
        ['main', '.topbar', '.skip'].forEach(function (sel) {
            var node = document.querySelector(sel);
            if (node) {
                node.inert = on;
            }
        });
    }

    function definition(dl, term, value) {
        dl.appendChild(el('dt', { text: term }));
        dl.appendChild(el('dd', {}, [value]));
    }

    function renderDetail(inc) {
        var body = $('detail-body');
        body.textContent = '';
        $('detail-title').textContent = 'Report #' + inc.id
            + (inc.category ? ' · ' + inc.category : '');

        var facts = el('dl', { className: 'facts' });
        definition(facts, 'Occurred', el('time', {
            datetime: inc.occurred_at,
            text: formatTime(inc.occurred_at, inc.time_zone) }));
        definition(facts, 'Site', inc.site ? inc.site.name : '—');
        definition(facts, 'Post', inc.post && inc.post.name ? inc.post.name
                                                            : '—');
        definition(facts, 'Severity', severityBadge(inc.severity));
        definition(facts, 'Report type', inc.template || '—');
        definition(facts, 'Status', inc.status ? titleCase(inc.status) : '—');
        definition(facts, 'Version', String(inc.version));
        definition(facts, 'Billing', billingList(inc.billing));
        body.appendChild(facts);

        body.appendChild(el('h3', { text: 'Report' }));
        if (inc.fields && inc.fields.length) {
            var fields = el('dl', { className: 'fields' });
            inc.fields.forEach(function (f) {
                definition(fields, f.label || 'Field',
                           el('span', { className: 'value',
                                        text: f.value === null
                                              || f.value === undefined
                                              ? '—' : String(f.value) }));
            });
            body.appendChild(fields);
        } else {
            body.appendChild(el('p', { className: 'muted',
                                       text: 'No report fields.' }));
        }

        body.appendChild(el('h3', { text: 'Photos' }));
        if (inc.attachments && inc.attachments.length) {
            body.appendChild(el('ul', { className: 'photos' },
                inc.attachments.map(function (a) {
                    var img = el('img', { src: a.url, alt: a.name || 'Photo',
                                          loading: 'lazy',
                                          decoding: 'async' });
                    return el('li', {}, [
                        el('a', { href: a.url, target: '_blank',
                                  rel: 'noopener' }, [img]),
                        el('span', { className: 'caption',
                                     text: a.name || '' })
                    ]);
                })));
        } else {
            body.appendChild(el('p', { className: 'muted',
                                       text: 'No photos.' }));
        }

        body.appendChild(el('h3', { text: 'Versions' }));
        body.appendChild(el('ol', { className: 'versions' },
            (inc.versions || []).map(function (v) {
                return el('li', {}, [
                    'Version ' + v.version + ', recorded ',
                    el('time', { datetime: v.recorded_at,
                                 text: formatTime(v.recorded_at,
                                                  inc.time_zone) })
                ]);
            })));
    }

    function openDetail(id, opener) {
        var panel = $('detail');
        state.opener = opener || null;
        document.querySelectorAll('#incident-rows tr.selected')
            .forEach(function (tr) { tr.classList.remove('selected'); });
        var tr = state.shown.get(Number(id));
        if (tr) {
            tr.classList.add('selected');
        }
        $('detail-title').textContent = 'Report #' + id;
        $('detail-body').textContent = '';
        $('detail-body').appendChild(el('p', { className: 'muted',
                                               text: 'Loading…' }));
        panel.hidden = false;
        panel.setAttribute('aria-busy', 'true');
        document.body.classList.add('detail-open');
        setBehindInert(fullScreenPanel.matches);
        $('detail-title').focus();

        api('incidents/' + encodeURIComponent(id)).then(function (inc) {
            renderDetail(inc);
        }).catch(function (err) {
            $('detail-body').textContent = '';
            $('detail-body').appendChild(el('p', { className: 'error',
                                                   role: 'alert',
                                                   text: err.message }));
        }).then(function () {
            panel.removeAttribute('aria-busy');
        });
    }


    /* charts */

    function refreshStats() {
        var p = apiParams(state.filters);
        var q = new URLSearchParams();
        if (p.get('from')) {
            q.set('from', p.get('from'));
        }
        if (p.get('to')) {
            q.set('to', p.get('to'));
        }
        return api('stats?' + q.toString()).then(function (stats) {
            var range = new Intl.DateTimeFormat(undefined,
                { year: 'numeric', month: 'short', day: 'numeric' });
            var to = new Date(new Date(stats.to).getTime() - 1);
            $('charts-range').textContent = '(' + range.format(new Date(stats.from))
                + ' – ' + range.format(to) + ')';
            state.stats = stats;
            window.TTCharts.perDay($('chart-per-day'), stats, SEVERITIES);
            window.TTCharts.legend($('severity-legend'), SEVERITIES);
            window.TTCharts.perSite($('chart-per-site'), stats);
        }).catch(function (err) {
            $('chart-per-day').textContent = 'Charts unavailable: '
                                             + err.message;
        });
    }

    function refreshStatsSoon() {
        clearTimeout(state.statsTimer);
        state.statsTimer = setTimeout(refreshStats, 1000);
    }


    /* live arrivals */

    function arrived(items) {
        var body = $('incident-rows');
        var shown = 0;
        var outside = 0;
        // oldest first, so the newest ends up on top
        items.slice().reverse().forEach(function (item) {
            // free text is matched by the server only; a search list says
            // "new" without guessing
            if (!matchesFilters(item, state.filters) || state.filters.q) {
                outside++;
                return;
            }
            var tr = row(item, true);
            var old = state.shown.get(item.id);
            if (old) {
                old.remove();
            }
            state.shown.set(item.id, tr);
            body.insertBefore(tr, body.firstChild);
            shown++;
        });
        updateEmpty();

        var parts = [];
        if (shown) {
            parts.push(shown === 1 ? '1 new incident arrived.'
                                   : shown + ' new incidents arrived.');
        }
        if (outside) {
            parts.push(outside === 1
                ? '1 new incident outside the current filters or search.'
                : outside + ' new incidents outside the current filters or search.');
        }
        if (parts.length) {
            $('notice').textContent = parts.join(' ');
        }
        refreshStatsSoon();
    }

    function setLive(stateName, text) {
        $('live-status').setAttribute('data-state', stateName);
        $('live-text').textContent = text;
    }

    function listen() {
        if (!window.EventSource) {
            setLive('off', 'Live updates unavailable');
            return;
        }
        var es = new EventSource(API + 'events');
        es.addEventListener('open', function () {
            setLive('on', 'Live');
        });
        es.addEventListener('incidents', function (ev) {
            var items;
            try {
                items = JSON.parse(ev.data);
            } catch (e) {
                return;
            }
            if (Array.isArray(items) && items.length) {
                arrived(items);
            }
        });
        es.addEventListener('error', function () {
            if (es.readyState === EventSource.CLOSED) {
                // refused (signed out?) rather than dropped: ask, then
                // start over
                setLive('off', 'Live updates stopped');
                api('me').then(function () {
                    setTimeout(listen, 5000);
                }).catch(function () { /* api() handles 401 */ });
            } else {
                setLive('connecting', 'Reconnecting…');
            }
        });
    }


    /* wiring */

    function applyFilters(f, push) {
        state.filters = f;
        var query = new URLSearchParams(f).toString();
        if (push) {
            history.replaceState(null, '', query ? '?' + query : location.pathname);
        }
        var csv = apiParams(f).toString();
        $('csv-link').href = API + 'incidents.csv' + (csv ? '?' + csv : '');
        $('notice').textContent = '';
        closeDetail();
        loadPage(true);
        refreshStats();
    }

    function start(me) {
        $('user-email').textContent = me.email;
        $('user-role').textContent = me.role === 'operator'
            ? '(operator: all clients)' : '';

        api('sites').then(function (sites) {
            var select = $('f-site');
            var current = state.filters.site || '';
            sites.items.forEach(function (s) {
                if (!select.querySelector('option[value="'
                                          + CSS.escape(String(s.id)) + '"]')) {
                    select.appendChild(el('option', { value: String(s.id),
                                                      text: s.name }));
                }
            });
            select.value = current;
        }).catch(showListError);

        var f = readFiltersFromUrl();
        fillForm(f);
        applyFilters(f, false);
        openHashedIncident();
        listen();
    }

    window.addEventListener('hashchange', openHashedIncident);

    $('filters').addEventListener('submit', function (ev) {
        ev.preventDefault();
        var f = readFiltersFromForm();
        var to = $('f-to');
        if (f.from && f.to && f.to < f.from) {
            to.setAttribute('aria-invalid', 'true');
            showListError('"To" is before "From": choose a date on or after '
                          + f.from + '.');
            to.focus();
            return;
        }
        to.removeAttribute('aria-invalid');
        applyFilters(f, true);
    });

    $('filters').addEventListener('reset', function () {
        // after the form has cleared its fields
        setTimeout(function () { applyFilters({}, true); }, 0);
    });

    $('load-more').addEventListener('click', function () {
        loadPage(false);
    });

    $('incident-rows').addEventListener('click', function (ev) {
        var button = ev.target.closest('button.open');
        if (button) {
            openDetail(button.getAttribute('data-id'), button);
        }
    });

    $('detail-close').addEventListener('click', closeDetail);

    // the day chart is drawn at its box's width: redraw when that changes
    var resizeTimer = null;
    window.addEventListener('resize', function () {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(function () {
            if (state.stats) {
                window.TTCharts.perDay($('chart-per-day'), state.stats,
                                       SEVERITIES);
            }
        }, 200);
    });

    document.addEventListener('keydown', function (ev) {
        if (ev.key === 'Escape' && !$('detail').hidden) {
            closeDetail();
        }
    });

    $('logout').addEventListener('click', function () {
        var b = $('logout');
        b.disabled = true;
        fetch(API + 'logout', { method: 'POST', credentials: 'same-origin' })
            .catch(function () { /* signed out locally either way */ })
            .then(function () { location.replace(LOGIN); });
    });

    api('me').then(start).catch(function (err) {
        if (err.status !== 401) {
            showListError(err);
        }
    });
}());
