// The unsubscribe page (portal/unsubscribe.html), opened from the link
// in a notification mail, without a login: it checks the link's token
// (GET, changes nothing) and pauses that subscription when asked (POST,
// the same request a mail client's one-click unsubscribe sends).
// Values from the API reach the page through textContent only.
'use strict';

(function () {
    var API = '/portal/api/notify/unsubscribe?token=';
    var $ = function (id) { return document.getElementById(id); };
    var token = new URLSearchParams(location.search).get('token') || '';

    function call(method) {
        return fetch(API + encodeURIComponent(token), {
            method: method,
            credentials: 'omit',
            headers: { Accept: 'application/json' }
        }).then(function (res) {
            return res.json().catch(function () { return null; })
                .then(function (body) {
                    if (!res.ok) {
                        throw new Error(body && typeof body.error === 'string'
                            ? body.error
                            : 'The server answered HTTP ' + res.status + '.');
                    }
                    return body;
                });
        }, function () {
            throw new Error('The portal could not be reached.');
        });
    }

    function fail(err) {
        $('unsub-what').hidden = true;
        $('unsub-confirm').hidden = true;
        $('unsub-error').textContent = err.message;
        $('unsub-error').hidden = false;
    }

    function done(body) {
        $('unsub-confirm').hidden = true;
        $('unsub-done').textContent = 'Done: ' + body.address
            + ' will get no more of these messages. A portal user can turn'
            + ' them on again under Notifications.';
        $('unsub-done').hidden = false;
    }

    call('GET').then(function (body) {
        if (body.paused) {
            $('unsub-what').hidden = true;
            done(body);
            return;
        }
        $('unsub-what').textContent = 'Stop the messages of this'
            + ' subscription to ' + body.address + '?';
        $('unsub-confirm').hidden = false;
    }, fail);

    $('unsub-confirm').addEventListener('click', function () {
        $('unsub-confirm').disabled = true;
        call('POST').then(done, fail);
    });
}());
