// The audit page (operators only): the latest scheduled audit from
// GET /portal/api/audit (sql/functions/portal_audit.sql) and a link to its
// CSV.  Every value reaches the page through textContent, never as HTML.
'use strict';

(function () {
    var KINDS = [
        ['missing_from_ledger', 'Missing from the ledger'],
        ['missing_from_source', 'Missing from TrackTik'],
        ['changed', 'Changed (fields)'],
        ['billing_without_report', 'Billing lines without a report'],
        ['should_have_billed', 'Reports that should have billed']
    ];

    var $ = function (id) { return document.getElementById(id); };

    function show(a) {
        var i, tr, th, td;

        if (a === null) {
            $('none').hidden = false;
            return;
        }

        $('verdict').textContent = a.agrees
            ? 'The ledger and TrackTik agree.'
            : 'The ledger and TrackTik differ.';
        $('period').textContent = a.from + ' to ' + a.to;
        $('created').textContent = a.created_at;
        $('pull').textContent = a.pull_id === null ? '-' : String(a.pull_id);
        $('ledger').textContent = String(a.ledger_reports);
        $('source').textContent = String(a.source_reports);
        $('pending').textContent = String(a.pending);

        if (a.updated_since !== null) {
            $('since').textContent = a.updated_since;
            $('since-note').hidden = false;
        }

        for (i = 0; i < KINDS.length; i++) {
            tr = document.createElement('tr');
            th = document.createElement('th');
            th.scope = 'row';
            th.textContent = KINDS[i][1];
            td = document.createElement('td');
            td.textContent = String(a.counts[KINDS[i][0]]);
            tr.appendChild(th);
            tr.appendChild(td);
            $('counts').appendChild(tr);
        }

        $('latest').hidden = false;
    }

    function fail(message) {
        $('page-error').textContent = message;
        $('page-error').hidden = false;
    }

    fetch('/portal/api/audit', {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' }
    }).then(function (res) {
        if (res.status === 401) {
            location.replace('/portal/login.html?next='
                             + encodeURIComponent(location.pathname));
            return;
        }
        return res.json().then(function (body) {
            if (!res.ok) {
                fail(body && typeof body.error === 'string' ? body.error
                     : 'The server answered HTTP ' + res.status + '.');
                return;
            }
            show(body.audit);
        });
    }).catch(function () {
        fail('The portal could not be reached.');
    });
}());
