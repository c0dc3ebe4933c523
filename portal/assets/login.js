// The sign-in page: POST /portal/api/login, then on to the portal.
// Already signed in (GET /portal/api/me answers 200): straight on.
'use strict';

(function () {
    var form = document.getElementById('login-form');
    var email = document.getElementById('email');
    var password = document.getElementById('password');
    var submit = document.getElementById('login-submit');
    var error = document.getElementById('login-error');

    function showError(text, field) {
        error.textContent = text;
        error.hidden = false;
        email.setAttribute('aria-invalid', field === email ? 'true' : 'false');
        password.setAttribute('aria-invalid',
                              field === password ? 'true' : 'false');
        (field || email).focus();
    }

    function target() {
        // only a path inside the portal may be returned to
        var next = new URLSearchParams(location.search).get('next') || '';
        return (/^\/portal\/(?!\/)[^\\]*$/.test(next) && next.indexOf('/portal/api/') !== 0
            ? next : '/portal/') + incidentHash();
    }

    // a mail's link to an incident (#incident=ID) survives the sign-in:
    // the browser carries the fragment through the redirect to this page
    function incidentHash() {
        return /^#incident=[0-9]{1,18}$/.test(location.hash)
            ? location.hash : '';
    }

    fetch('/portal/api/me', { credentials: 'same-origin' })
        .then(function (res) {
            if (res.ok) {
                location.replace(target());
            }
        })
        .catch(function () { /* not signed in, or offline: stay here */ });

    form.addEventListener('submit', function (ev) {
        ev.preventDefault();

        if (email.value.trim() === '') {
            showError('Enter your email address.', email);
            return;
        }
        if (password.value === '') {
            showError('Enter your password.', password);
            return;
        }

        submit.disabled = true;
        submit.textContent = 'Signing in…';
        error.hidden = true;

        fetch('/portal/api/login', {
            method: 'POST',
            credentials: 'same-origin',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ email: email.value.trim(),
                                   password: password.value })
        }).then(function (res) {
            return res.json().catch(function () { return {}; })
                .then(function (body) {
                    if (res.ok) {
                        location.replace(target());
                        return;
                    }
                    var text = body && typeof body.error === 'string'
                        ? body.error : 'Sign-in failed (HTTP ' + res.status + ').';
                    if (res.status === 401) {
                        text = 'Invalid email or password.';
                    } else if (res.status === 429) {
                        text = 'Too many failed sign-ins. Wait a few minutes '
                               + 'and try again.';
                    }
                    password.value = '';
                    showError(text, res.status === 401 ? password : email);
                });
        }).catch(function () {
            showError('The portal could not be reached. Check your '
                      + 'connection and try again.', email);
        }).then(function () {
            submit.disabled = false;
            submit.textContent = 'Sign in';
        });
    });
}());
