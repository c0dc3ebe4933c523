// The notifications page (portal/notifications.html): the user's own
// subscriptions (GET/POST/DELETE /portal/api/notify/subscriptions), and
// for operators the rules in force, switched off and on
// (notify/rules), and the delivery log with its dead notifications
// replayed (notify/log, notify/replay/ID): sql/functions/portal_notify.sql.
// Every value from the API reaches the page through textContent, never
// as HTML.
'use strict';

(function () {
    var SEVERITY = { '': 'Any', INFO: 'Info', LOW: 'Low',
                     MODERATE: 'Moderate', HIGH: 'High', SEVERE: 'Severe' };
    var DAYS = { sun: 'Sundays', mon: 'Mondays', tue: 'Tuesdays',
                 wed: 'Wednesdays', thu: 'Thursdays', fri: 'Fridays',
                 sat: 'Saturdays' };

    var $ = function (id) { return document.getElementById(id); };
    var siteNames = {};
    var subs = [];
    var zone = '';              // the user's, for their digests

    var api = window.TTApi;      // assets/page.js
    var cell = window.TTCell;

    function showError(message) {
        $('page-error').textContent = message;
        $('page-error').hidden = !message;
    }

    function say(message) {
        showError('');
        $('notice').textContent = message;
    }

    function button(label, aria, onClick) {
        var b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.setAttribute('aria-label', aria);
        b.addEventListener('click', function () {
            b.disabled = true;
            onClick().catch(function (e) {
                b.disabled = false;
                showError(e.message);
            });
        });
        return b;
    }

    /* the user's subscriptions */

    function when(s) {
        if (s.mode === 'immediate') {
            return 'Immediately';
        }
        return (s.mode === 'weekly' ? 'Weekly, ' + DAYS[s.digest_weekday]
                                    : 'Daily') + ' at ' + s.digest_at;
    }

    function sitesText(sites) {
        if (!sites) {
            return 'All your sites';
        }
        return sites.map(function (id) {
            return siteNames[id] || 'Site ' + id;
        }).join(', ');
    }

    function renderSubs(answer) {
        subs = answer.items;
        zone = answer.time_zone;
        $('s-zone').value = zone;
        var body = $('sub-rows');
        body.textContent = '';
        subs.forEach(function (s) {
            var tr = document.createElement('tr');
            cell(tr, sitesText(s.sites), true);
            cell(tr, SEVERITY[s.min_severity || ''] + ' or above');
            cell(tr, when(s));
            cell(tr, s.paused ? 'Paused (unsubscribed)' : 'Active');
            var actions = document.createElement('td');
            actions.appendChild(button('Change',
                'Change the subscription for ' + sitesText(s.sites),
                function () { edit(s); return Promise.resolve(); }));
            actions.appendChild(button(s.paused ? 'Resume' : 'Pause',
                (s.paused ? 'Resume' : 'Pause') + ' this subscription',
                function () {
                    return save(s.id, params(s, !s.paused));
                }));
            actions.appendChild(button('Delete', 'Delete this subscription',
                function () {
                    return api('notify/subscriptions/' + s.id, 'DELETE')
                        .then(function () {
                            say('Subscription deleted.');
                            return loadSubs();
                        });
                }));
            tr.appendChild(actions);
            body.appendChild(tr);
        });
        $('subs-empty').hidden = subs.length > 0;
    }

    function loadSubs() {
        return api('notify/subscriptions').then(renderSubs);
    }

    // a subscription's values as the API takes them
    function params(s, paused) {
        var p = new URLSearchParams();
        p.set('sites', (s.sites || []).join(','));
        p.set('min_severity', s.min_severity || '');
        p.set('mode', s.mode);
        if (s.mode !== 'immediate') {
            p.set('digest_at', s.digest_at);
        }
        if (s.mode === 'weekly') {
            p.set('digest_weekday', s.digest_weekday);
        }
        if (paused !== undefined) {
            p.set('paused', paused ? 'true' : 'false');
        }
        return p;
    }

    function save(id, p) {
        return api('notify/subscriptions' + (id ? '/' + id : '') + '?'
                   + p.toString(), 'POST').then(function () {
            say(id ? 'Subscription saved.' : 'Subscribed.');
            return loadSubs();
        });
    }

    function edit(s) {
        var f = $('sub-form').elements;
        f.id.value = s.id;
        f.min_severity.value = s.min_severity || '';
        f.mode.value = s.mode;
        f.digest_at.value = s.digest_at || '07:30';
        f.digest_weekday.value = s.digest_weekday || 'mon';
        document.querySelectorAll('#site-choices input').forEach(
            function (c) {
                c.checked = (s.sites || []).indexOf(Number(c.value)) >= 0;
            });
        $('form-title').textContent = 'Change the subscription';
        $('s-save').textContent = 'Save';
        $('s-severity').focus();
    }

    function submit(ev) {
        ev.preventDefault();
        var f = $('sub-form').elements;
        var s = {
            sites: [],
            min_severity: f.min_severity.value,
            mode: f.mode.value,
            digest_at: f.digest_at.value,
            digest_weekday: f.digest_weekday.value
        };
        document.querySelectorAll('#site-choices input:checked').forEach(
            function (c) { s.sites.push(Number(c.value)); });
        var p = params(s);
        if (f.time_zone.value.trim() !== '') {
            p.set('time_zone', f.time_zone.value.trim());
        }
        save(f.id.value, p).then(function () {
            $('sub-form').reset();
        }, function (e) {
            showError(e.message);
        });
    }

    // after the form's own reset (its Clear button, or a save) has
    // cleared the fields: a new subscription again, in the user's zone
    function afterReset() {
        $('sub-form').elements.id.value = '';
        $('s-zone').value = zone;
        $('form-title').textContent = 'New subscription';
        $('s-save').textContent = 'Subscribe';
    }

    function renderSites(answer) {
        var box = $('site-choices');
        box.textContent = '';
        answer.items.forEach(function (s) {
            siteNames[s.id] = s.name;
            var label = document.createElement('label');
            var c = document.createElement('input');
            c.type = 'checkbox';
            c.value = String(s.id);
            label.appendChild(c);
            label.appendChild(document.createTextNode(' ' + s.name));
            box.appendChild(label);
        });
    }

    /* operators: the rules in force and the delivery log */

    function ruleRow(r, name, tells) {
        var tr = document.createElement('tr');
        cell(tr, name, true);
        cell(tr, JSON.stringify(r.definition));
        cell(tr, tells);
        cell(tr, r.enabled ? 'On'
                 : 'Off (' + r.disabled_by + ', ' + r.disabled_at + ')');
        var action = document.createElement('td');
        action.appendChild(button(r.enabled ? 'Switch off' : 'Switch on',
            (r.enabled ? 'Switch off ' : 'Switch on ') + name,
            function () {
                return api('notify/rules/' + r.id + '?enabled='
                           + (r.enabled ? 'false' : 'true'), 'POST')
                    .then(function () {
                        say(name + (r.enabled ? ' is off.' : ' is on.'));
                        return loadRules();
                    });
            }));
        tr.appendChild(action);
        return tr;
    }

    function loadRules() {
        return api('notify/rules').then(function (a) {
            $('rule-set').textContent = a.version
                ? 'Rule file version ' + a.version + ' (' + a.source_file
                  + '), loaded ' + a.loaded_at + ' by ' + a.loaded_by
                  + '. A rule switched off stays off until the next load.'
                : 'No rule file is loaded.';
            var body = $('rule-rows');
            body.textContent = '';
            a.rules.forEach(function (r) {
                body.appendChild(ruleRow(r, r.rule_key,
                                         (r.recipients || []).join(', ')));
            });
            a.subscriptions.forEach(function (s) {
                body.appendChild(ruleRow(s, 'Subscription ' + s.id,
                                         s.owner));
            });
        });
    }

    function loadLog() {
        var state = $('l-state').value;
        return api('notify/log?limit=200' + (state ? '&state=' + state : ''))
            .then(function (a) {
                var paused = $('paused');
                paused.textContent = '';
                a.paused.forEach(function (p) {
                    var li = document.createElement('li');
                    li.className = 'marker';
                    li.textContent = 'Paused: ' + p.address + ' since '
                        + p.since + ': ' + p.reason;
                    paused.appendChild(li);
                });
                var body = $('log-rows');
                body.textContent = '';
                a.items.forEach(function (e) {
                    var tr = document.createElement('tr');
                    cell(tr, e.at, true);
                    cell(tr, e.channel);
                    cell(tr, e.recipient);
                    cell(tr, e.report_id ? '#' + e.report_id + ' ('
                                           + e.announce + ')' : e.announce);
                    cell(tr, (e.ok ? 'OK ' : 'Failed ') + e.status);
                    cell(tr, e.detail);
                    cell(tr, e.notification + ': ' + e.state + ' after '
                             + e.attempts + ' attempt(s)');
                    var action = document.createElement('td');
                    if (e.state === 'dead') {
                        action.appendChild(button('Replay',
                            'Replay notification ' + e.notification,
                            function () {
                                return api('notify/replay/' + e.notification,
                                           'POST').then(function () {
                                    say('Notification ' + e.notification
                                        + ' is queued again.');
                                    return loadLog();
                                });
                            }));
                    }
                    tr.appendChild(action);
                    body.appendChild(tr);
                });
            });
    }

    document.addEventListener('DOMContentLoaded', function () {
        $('sub-form').addEventListener('submit', submit);
        $('sub-form').addEventListener('reset', function () {
            setTimeout(afterReset, 0);
        });
        $('log-filter').addEventListener('submit', function (ev) {
            ev.preventDefault();
            loadLog().catch(function (e) { showError(e.message); });
        });

        api('me').then(function (me) {
            $('user-email').textContent = me.email;
            $('user-role').textContent = me.role;
            var work = [api('sites').then(renderSites).then(loadSubs)];
            if (me.role === 'operator') {
                $('operator').hidden = false;
                work.push(loadRules(), loadLog());
            }
            return Promise.all(work);
        }).catch(function (e) {
            showError(e.message);
        });
    });
}());
