// The archives page (portal/archives.html): the auditor's archive
// (doc/archive.md).  A user asks for a period's archive, POST
// /portal/api/archive?from=&to=[&client=] (an operator names the client;
// a client user gets its own), and sees the archives it may download,
// GET /portal/api/archives, refreshed every few seconds while one is
// queued or being built.  The server decides who sees what; every value
// from the API reaches the page through textContent, never as HTML.
'use strict';

(function () {
    var STATES = { queued: 'Queued', running: 'Building', ready: 'Ready',
                   failed: 'Failed' };
    var REFRESH_MS = 3000;

    var $ = function (id) { return document.getElementById(id); };
    var api = window.TTApi;      // assets/page.js
    var cell = window.TTCell;
    var timer = null;
    var operator = false;

    function showError(message) {
        $('page-error').textContent = message;
        $('page-error').hidden = !message;
    }

    function size(bytes) {
        if (bytes === null || bytes === undefined) {
            return '';
        }
        if (bytes < 1024) {
            return bytes + ' bytes';
        }
        if (bytes < 1024 * 1024) {
            return (bytes / 1024).toFixed(1) + ' KiB';
        }
        return (bytes / 1024 / 1024).toFixed(1) + ' MiB';
    }

    /* 2026-03-01T08:00:00.123+00:00 as 2026-03-01 08:00 UTC */
    function when(ts) {
        var d = ts ? new Date(ts) : null;
        return d && !isNaN(d) ? d.toISOString().slice(0, 16)
                                 .replace('T', ' ') + ' UTC' : '';
    }

    function downloadLink(a) {
        var link = document.createElement('a');
        link.href = a.url;
        link.className = 'button';
        link.setAttribute('download', '');
        link.textContent = 'Download';
        link.setAttribute('aria-label', 'Download archive ' + a.id + ' ('
                          + a.from + ' to ' + a.to + ')');
        return link;
    }

    function render(items) {
        var body = $('archive-rows');
        body.textContent = '';
        items.forEach(function (a) {
            var tr = document.createElement('tr');
            tr.dataset.state = a.state;
            cell(tr, a.id, true);
            cell(tr, a.from + ' to ' + a.to);
            cell(tr, a.client_id + (a.sites ? ' (sites '
                                    + a.sites.join(', ') + ')' : ''));
            cell(tr, (STATES[a.state] || a.state)
                     + (a.error ? ': ' + a.error : ''));
            cell(tr, size(a.size)).className = 'num';
            cell(tr, a.incidents).className = 'num';
            cell(tr, a.photos).className = 'num';
            cell(tr, a.sha256).className = 'hash';
            cell(tr, when(a.requested_at));
            var action = document.createElement('td');
            if (a.state === 'ready' && a.url) {
                action.appendChild(downloadLink(a));
            }
            tr.appendChild(action);
            body.appendChild(tr);
        });
        $('empty').hidden = items.length > 0;
    }

    function pending(items) {
        return items.some(function (a) {
            return a.state === 'queued' || a.state === 'running';
        });
    }

    function load() {
        clearTimeout(timer);
        timer = null;
        return api('archives').then(function (answer) {
            render(answer.items);
            if (pending(answer.items)) {
                $('list-status').textContent = 'An archive is being '
                    + 'prepared; this list refreshes by itself.';
                timer = setTimeout(load, REFRESH_MS);
            } else {
                $('list-status').textContent = '';
            }
        }, function (e) {
            showError(e.message);
            /* a passing failure: try again, more slowly */
            timer = setTimeout(load, REFRESH_MS * 5);
        });
    }

    function request(event) {
        event.preventDefault();
        var form = $('request-form');
        var p = new URLSearchParams();
        p.set('from', form.elements.from.value);
        p.set('to', form.elements.to.value);
        if (operator) {
            p.set('client', form.elements.client.value);
        }
        showError('');
        $('request').disabled = true;
        $('request-status').textContent = 'Requesting…';
        api('archive?' + p.toString(), 'POST').then(function (a) {
            $('request-status').textContent = 'Archive ' + a.id + ' of '
                + a.from + ' to ' + a.to + ' is '
                + (a.state === 'running' ? 'being built' : 'queued') + '.';
            return load();
        }, function (e) {
            /* the server's own words: a bad period, 10 pending, ... */
            $('request-status').textContent = e.message;
        }).then(function () {
            $('request').disabled = false;
        });
    }

    /* last month, in UTC days, as a starting point */
    function defaultPeriod() {
        var now = new Date();
        var first = new Date(Date.UTC(now.getUTCFullYear(),
                                      now.getUTCMonth() - 1, 1));
        var last = new Date(Date.UTC(now.getUTCFullYear(),
                                     now.getUTCMonth(), 0));
        $('r-from').value = first.toISOString().slice(0, 10);
        $('r-to').value = last.toISOString().slice(0, 10);
    }

    /* an operator picks one of the clients the ledger knows */
    function loadClients() {
        return api('sites').then(function (sites) {
            var names = {};
            sites.items.forEach(function (s) {
                (names[s.client_id] = names[s.client_id] || []).push(s.name);
            });
            var select = $('r-client');
            Object.keys(names).sort(function (a, b) { return a - b; })
                .forEach(function (id) {
                    var o = document.createElement('option');
                    var n = names[id];
                    o.value = id;
                    o.textContent = id + ' (' + n.slice(0, 2).join(', ')
                        + (n.length > 2 ? ', …' : '') + ')';
                    select.appendChild(o);
                });
        }, function (e) {
            showError(e.message);
        });
    }

    document.addEventListener('DOMContentLoaded', function () {
        defaultPeriod();
        $('request-form').addEventListener('submit', request);

        api('me').then(function (me) {
            $('user-email').textContent = me.email;
            operator = me.role === 'operator';
            $('user-role').textContent = operator
                ? '(operator: all clients)' : '';
            if (operator) {
                $('client-field').hidden = false;
                $('r-client').required = true;
                loadClients();
            }
            load();
        }, function (e) {
            showError(e.message);
        });
    });
}());
