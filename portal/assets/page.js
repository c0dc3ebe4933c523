// What the portal's pages share (billing.js, notifications.js,
// unsubscribe.js).  TTApi(path, method, credentials) fetches
// /portal/api/PATH and resolves to its JSON answer, or rejects with an
// Error saying why (the API's own "error" when it gave one).  Without a
// session (401) the browser goes to the sign-in page, to come back here;
// a page that sends no session ('omit': the unsubscribe link's) is left
// where it is.  TTCell(tr, value, header) appends a table cell (a row
// header when asked) holding value as text, never as HTML.
'use strict';

(function () {
    var API = '/portal/api/';
    var LOGIN = '/portal/login.html';

    function signedOut() {
        var here = location.pathname + location.search;
        location.replace(LOGIN + '?next=' + encodeURIComponent(here));
    }

    window.TTApi = function (path, method, credentials) {
        return fetch(API + path, {
            method: method || 'GET',
            credentials: credentials || 'same-origin',
            headers: { Accept: 'application/json' }
        }).then(function (res) {
            return res.json().catch(function () { return null; })
                .then(function (body) {
                    if (res.status === 401 && credentials !== 'omit') {
                        signedOut();
                        throw new Error('Signed out.');
                    }
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
    };

    window.TTCell = function (tr, value, header) {
        var c = document.createElement(header ? 'th' : 'td');
        if (header) {
            c.scope = 'row';
        }
        c.textContent = value === null || value === undefined ? ''
                                                              : String(value);
        tr.appendChild(c);
        return c;
    };
}());
