// The unsubscribe page (portal/unsubscribe.html), opened from the link
// in a notification mail, without a login: it checks the link's token
// (GET, changes nothing) and pauses that subscription when asked (POST,
// the same request a mail client's one-click unsubscribe sends).
// Values from the API reach the page through textContent only.
'use strict';

(function () {
    var $ = function (id) { return document.getElementById(id); };
    var token = new URLSearchParams(location.search).get('token') || '';

    // no session: the token is the authority (assets/page.js)
    function call(method) {
        return window.TTApi('notify/unsubscribe?token='
                            + encodeURIComponent(token), method, 'omit');
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
