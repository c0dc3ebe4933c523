// The billing page (operators only): billing lines and their totals from
// GET /portal/api/billing (sql/functions/portal_billing.sql), filtered as
// the query string says, and a CSV of what is shown.  Every value from
// the API reaches the page through textContent, never as HTML.
'use strict';

(function () {
    var FILTERS = ['from', 'to', 'client', 'site', 'code', 'state'];
    var COLUMNS = ['id', 'state', 'kind', 'service_date', 'client_id',
                   'site_id', 'bill_code', 'quantity', 'unit_price', 'amount',
                   'report_id', 'external_id', 'last_error'];
    var STATES = { pending: 'Pending', in_doubt: 'In doubt',
                   posted: 'Posted', failed: 'Failed' };

    var $ = function (id) { return document.getElementById(id); };
    var shown = null;           // the last answer, for the CSV

    var api = window.TTApi;      // assets/page.js
    var cell = window.TTCell;

    function showError(message) {
        var p = $('page-error');
        p.textContent = message;
        p.hidden = !message;
    }

    function text(v) {
        return v === null || v === undefined ? '' : String(v);
    }

    /* prices and amounts in currency units, to the cent */
    var MONEY = { unit_price: 1, amount: 1 };

    function money(v) {
        return v === null || v === undefined ? '' : Number(v).toFixed(2);
    }

    function value(l, name) {
        return MONEY[name] ? money(l[name]) : l[name];
    }

    function renderLines(items) {
        var body = $('line-rows');
        body.textContent = '';
        items.forEach(function (l) {
            var tr = document.createElement('tr');
            cell(tr, l.id, true);
            cell(tr, STATES[l.state] || l.state);
            COLUMNS.slice(2).forEach(function (name) {
                var c = cell(tr, name === 'amount' && l.amount === null
                                 ? 'no price yet' : value(l, name));
                if (name === 'quantity' || name === 'unit_price'
                    || name === 'amount') {
                    c.className = 'num';
                }
            });
            var action = document.createElement('td');
            if (l.state === 'failed') {
                action.appendChild(retryButton(l.id));
            }
            tr.appendChild(action);
            body.appendChild(tr);
        });
        $('empty').hidden = items.length > 0;
    }

    /* a failed line back to pending for the next billing sync */
    function retryButton(id) {
        var b = document.createElement('button');
        b.type = 'button';
        b.textContent = 'Retry';
        b.setAttribute('aria-label', 'Retry billing line ' + id);
        b.addEventListener('click', function () {
            b.disabled = true;
            api('billing/retry/' + encodeURIComponent(id), 'POST')
                .then(function () {
                    return load().then(function () {
                        $('notice').textContent = 'Billing line ' + id
                            + ' is pending again: the next billing sync '
                            + 'posts it.';
                    });
                }, function (e) {
                    b.disabled = false;
                    showError(e.message);
                });
        });
        return b;
    }

    function renderTotals(totals) {
        var body = $('total-rows');
        body.textContent = '';
        totals.forEach(function (t) {
            var tr = document.createElement('tr');
            cell(tr, t.grand_total ? 'All clients' : t.client_id, true);
            cell(tr, t.bill_code === null ? 'All codes' : t.bill_code);
            [t.lines, t.quantity, money(t.amount), t.unpriced].forEach(
                function (v) { cell(tr, v).className = 'num'; });
            if (t.bill_code === null) {
                tr.className = 'subtotal';
            }
            body.appendChild(tr);
        });
    }

    function readFilters() {
        var params = new URLSearchParams(location.search);
        var p = new URLSearchParams();
        FILTERS.forEach(function (name) {
            var v = (params.get(name) || '').trim();
            $('filters').elements[name].value = v;
            if (v !== '') {
                p.set(name, v);
            }
        });
        return p;
    }

    function load() {
        var p = readFilters();
        showError('');
        $('csv').disabled = true;
        $('notice').textContent = 'Loading…';
        return api('billing?' + p.toString()).then(function (answer) {
            shown = answer;
            renderLines(answer.items);
            renderTotals(answer.totals);
            $('notice').textContent = answer.truncated
                ? 'Showing the newest ' + answer.items.length + ' of '
                  + answer.matched + ' lines; the totals count them all.'
                : answer.matched + (answer.matched === 1 ? ' line.'
                                                          : ' lines.');
            $('csv').disabled = answer.items.length === 0;
        }, function (e) {
            shown = null;
            renderLines([]);
            renderTotals([]);
            $('notice').textContent = '';
            showError(e.message);
        });
    }

    /* RFC 4180; a text a spreadsheet would run as a formula gets a ' */
    function csvField(v, numeric) {
        var s = text(v);
        if (!numeric && /^[=+\-@\t\r]/.test(s)) {
            s = "'" + s;
        }
        return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }

    function downloadCsv() {
        if (!shown) {
            return;
        }
        var numeric = { id: 1, client_id: 1, site_id: 1, quantity: 1,
                        unit_price: 1, amount: 1, report_id: 1 };
        var rows = [COLUMNS.join(',')];
        shown.items.forEach(function (l) {
            rows.push(COLUMNS.map(function (name) {
                return csvField(value(l, name), numeric[name]);
            }).join(','));
        });
        var blob = new Blob([rows.join('\r\n') + '\r\n'],
                            { type: 'text/csv' });
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'billing-lines.csv';
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
    }

    function apply(event) {
        event.preventDefault();
        var p = new URLSearchParams();
        FILTERS.forEach(function (name) {
            var v = $('filters').elements[name].value.trim();
            if (v !== '') {
                p.set(name, v);
            }
        });
        history.pushState(null, '', '?' + p.toString());
        load();
    }

    document.addEventListener('DOMContentLoaded', function () {
        $('filters').addEventListener('submit', apply);
        $('filters').addEventListener('reset', function () {
            history.pushState(null, '', location.pathname);
            setTimeout(load, 0);
        });
        $('csv').addEventListener('click', downloadCsv);
        window.addEventListener('popstate', load);

        api('me').then(function (me) {
            $('user-email').textContent = me.email;
            $('user-role').textContent = me.role;
            if (me.role !== 'operator') {
                showError('Billing is for the guard company\'s operators '
                          + 'only.');
                $('filters').hidden = true;
                return;
            }
            load();
        }, function (e) {
            showError(e.message);
        });
    });
}());
