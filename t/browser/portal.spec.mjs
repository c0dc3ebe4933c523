// The portal in a real browser: Debian's headless Chromium driven by
// playwright-core, against a real nginx with the module and a real
// PostgreSQL.  t/browser/portal.t prepares the data and runs this file;
// every check is printed as one line "TT-RESULT {json}" that portal.t
// turns into a TAP test.
//
// Environment (set by portal.t):
//   PORTAL_URL      http://127.0.0.1:PORT   (nginx)
//   TRACKTIK_DSN    libpq conninfo, for inserting a live incident
//   TT_FIXTURE      JSON: user, password, ids and counts of the data set
//   TT_OUTPUT_DIR   where screenshots go
//   TT_CHROMIUM     the browser (default /usr/bin/chromium)

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { WAIT, check, report, started, withBrowser } from './lib/browser.mjs';

const base = process.env.PORTAL_URL;
const fx = JSON.parse(process.env.TT_FIXTURE);
const out = process.env.TT_OUTPUT_DIR;
mkdirSync(out, { recursive: true });

function psql(sql) {
    return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1',
                                 '-d', process.env.TRACKTIK_DSN, '-c', sql],
                        { encoding: 'utf8' }).trim();
}

async function shot(page, name, fullPage = true) {
    await page.screenshot({ path: join(out, name + '.png'), fullPage });
}

// the report numbers in the table, top to bottom
async function shownIds(page) {
    return page.$$eval('#incident-rows tr',
                       (trs) => trs.map((tr) => Number(tr.dataset.id)));
}

// wait until the list is not loading and holds what it should
async function listSettled(page) {
    await page.waitForFunction(() =>
        !document.querySelector('#incidents[aria-busy]')
        && (document.querySelectorAll('#incident-rows tr').length > 0
            || !document.getElementById('empty').hidden
            || !document.getElementById('list-error').hidden),
        null, { timeout: WAIT });
}

async function applyFilters(page, values) {
    for (const [name, value] of Object.entries(values)) {
        const sel = '#f-' + name;
        const tag = await page.$eval(sel, (e) => e.tagName);
        if (tag === 'SELECT') {
            await page.selectOption(sel, value);
        } else {
            await page.fill(sel, value);
        }
    }
    const before = await page.evaluate(() => document
        .getElementById('incident-rows').firstElementChild);
    await page.click('#filters button[type=submit]');
    await listSettled(page);
    return before;
}

function main() {
    return withBrowser(run, (page) => shot(page, 'failure'));
}

async function run(context, page) {
    /* signed out: the portal sends the browser to the sign-in page */
    const first = await page.goto(base + '/portal/');
    check('without a session /portal/ ends on the sign-in page',
          new URL(page.url()).pathname === '/portal/login.html',
          page.url());
    const csp = (await page.goto(base + '/portal/login.html'))
        .headers()['content-security-policy'] || '';
    check('the sign-in page is served with a strict CSP',
          /script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), csp);
    void first;

    /* a wrong password: an error the user can read, focus on the field */
    await page.fill('#email', fx.email);
    await page.fill('#password', 'not the password at all');
    await page.click('#login-submit');
    await page.waitForSelector('#login-error:not([hidden])');
    const errText = await page.textContent('#login-error');
    check('a wrong password shows "Invalid email or password"',
          /invalid email or password/i.test(errText), errText);
    check('the error is announced (role=alert)',
          await page.getAttribute('#login-error', 'role') === 'alert');
    check('focus returns to the password field after a failed sign-in',
          await page.evaluate(() => document.activeElement.id) === 'password');
    await shot(page, '01-login-error');

    /* sign in with the keyboard only */
    await page.goto(base + '/portal/login.html');
    await page.keyboard.press('Tab');
    check('Tab from the top reaches the email field first',
          await page.evaluate(() => document.activeElement.id) === 'email');
    await page.keyboard.type(fx.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(fx.password);
    await Promise.all([
        page.waitForURL(base + '/portal/', { timeout: WAIT }),
        page.keyboard.press('Enter')
    ]);
    check('signing in with the keyboard opens /portal/',
          new URL(page.url()).pathname === '/portal/', page.url());
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === 'tt_session');
    check('the session cookie is HttpOnly and SameSite=Strict',
          session && session.httpOnly && session.sameSite === 'Strict',
          cookies);

    await listSettled(page);
    check('the signed-in user is shown',
          (await page.textContent('#user-email')).trim() === fx.email);

    /* the first page, then "Load more" */
    let ids = await shownIds(page);
    check('the first page holds 50 incidents', ids.length === 50,
          ids.length);
    check('newest first: the latest incident is on top',
          ids[0] === fx.newest, { top: ids[0], expected: fx.newest });
    check('"Load more" is offered', await page.isVisible('#load-more'));
    await shot(page, '02-incidents');

    await page.click('#load-more');
    await page.waitForFunction((n) => document
        .querySelectorAll('#incident-rows tr').length > n, 50,
        { timeout: WAIT });
    await page.waitForSelector('#incidents:not([aria-busy])');
    ids = await shownIds(page);
    check('"Load more" appends the rest: every visible incident once',
          ids.length === fx.visible_total
          && new Set(ids).size === ids.length,
          { shown: ids.length, expected: fx.visible_total });
    check('"Load more" goes away at the end',
          !(await page.isVisible('#load-more')));
    check("another client's incident is not listed",
          !ids.includes(fx.other_client_report), fx.other_client_report);
    check('an unapproved report is not listed',
          !ids.includes(fx.unapproved_report), fx.unapproved_report);

    /* charts from /stats */
    const perDay = await page.$$eval('#chart-per-day rect.bar',
        (rs) => rs.reduce((a, r) => a + Number(r.dataset.count), 0));
    check('the per-day chart stacks every incident of the last 30 days',
          perDay === fx.visible_total, { drawn: perDay,
                                         expected: fx.visible_total });
    const highBars = await page.$$eval(
        '#chart-per-day rect.bar[data-severity=HIGH]',
        (rs) => rs.reduce((a, r) => a + Number(r.dataset.count), 0));
    check('the per-day chart has the HIGH incidents in their own colour',
          highBars === fx.counts.HIGH, { drawn: highBars,
                                         expected: fx.counts.HIGH });
    const perSite = await page.$$eval('#chart-per-site li',
        (lis) => lis.map((li) => [li.querySelector('.name').textContent,
                                  Number(li.dataset.count)]));
    check('the per-site chart has one bar per site with its count',
          JSON.stringify(perSite) === JSON.stringify(fx.per_site),
          { drawn: perSite, expected: fx.per_site });

    /* filters */
    await page.waitForFunction(() => document
        .querySelectorAll('#f-site option').length > 1, null,
        { timeout: WAIT });
    const siteOptions = await page.$$eval('#f-site option',
        (os) => os.map((o) => o.textContent).slice(1));
    check('the site filter lists exactly the user\'s sites',
          JSON.stringify(siteOptions.slice().sort())
          === JSON.stringify(fx.per_site.map((s) => s[0]).sort()),
          siteOptions);

    await applyFilters(page, { severity: 'HIGH' });
    ids = await shownIds(page);
    let sev = await page.$$eval('#incident-rows .sev',
                                (es) => es.map((e) => e.textContent));
    check('severity filter: only HIGH incidents, all of them',
          ids.length === fx.counts.HIGH
          && sev.every((s) => s === 'High'), { ids, sev });
    check('the filters are kept in the address (a reload keeps them)',
          new URL(page.url()).searchParams.get('severity') === 'HIGH',
          page.url());
    const csvHref = await page.getAttribute('#csv-link', 'href');
    check('the CSV link carries the filters',
          /severity=HIGH/.test(csvHref), csvHref);
    await shot(page, '03-filter-severity');

    /* the CSV of the current filter */
    const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: WAIT }),
        page.click('#csv-link')
    ]);
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.split('\r\n').filter((l) => l !== '');
    check('the CSV starts with its header row',
          lines[0] === 'id,version,occurred_at,site_id,site,category,'
                       + 'severity,template,billing', lines[0]);
    const csvIds = lines.slice(1).map((l) => Number(l.split(',')[0]));
    check('the CSV holds exactly the filtered incidents',
          JSON.stringify(csvIds.slice().sort())
          === JSON.stringify(ids.slice().sort()), { csvIds, ids });
    const photoLine = lines.find((l) => l.startsWith(fx.photo_report + ','));
    check('the CSV row has the site, severity and billing marker',
          photoLine && photoLine.includes(fx.sites[0].name)
          && photoLine.includes(',HIGH,')
          && /ADH x 1(\.0)?\b/.test(photoLine), photoLine);

    await page.click('#filters button[type=reset]');
    await page.waitForFunction(() => !location.search, null,
                               { timeout: WAIT });
    await listSettled(page);

    await applyFilters(page, { site: String(fx.sites[1].id) });
    const siteCells = await page.$$eval(
        '#incident-rows td[data-label=Site]',
        (tds) => tds.map((td) => td.textContent));
    check('site filter: only that site\'s incidents',
          siteCells.length > 0
          && siteCells.every((s) => s === fx.sites[1].name), siteCells);

    await page.click('#filters button[type=reset]');
    await page.waitForFunction(() => !location.search, null,
                               { timeout: WAIT });
    await listSettled(page);
    await applyFilters(page, { q: fx.search_word });
    ids = await shownIds(page);
    check('free-text search finds the report that says it',
          JSON.stringify(ids) === JSON.stringify([fx.versioned_report]),
          ids);

    await page.click('#filters button[type=reset]');
    await page.waitForFunction(() => !location.search, null,
                               { timeout: WAIT });
    await listSettled(page);
    await applyFilters(page, { from: fx.recent_from, to: fx.recent_to });
    ids = await shownIds(page);
    check('date range: only the incidents of those days',
          JSON.stringify(ids.slice().sort())
          === JSON.stringify(fx.recent_ids.slice().sort()),
          { ids, expected: fx.recent_ids });

    await page.click('#filters button[type=reset]');
    await page.waitForFunction(() => !location.search, null,
                               { timeout: WAIT });
    await listSettled(page);

    /* the detail panel: fields, billing, versions, the photo */
    const opener = `#incident-rows button.open[data-id="${fx.photo_report}"]`;
    await page.click(opener);
    await page.waitForSelector('#detail:not([aria-busy]) .photos img',
                               { timeout: WAIT });
    await page.waitForFunction(() => {
        const img = document.querySelector('#detail .photos img');
        return img && img.complete;
    }, null, { timeout: WAIT });
    const img = await page.$eval('#detail .photos img', (i) => ({
        w: i.naturalWidth, h: i.naturalHeight,
        src: i.getAttribute('src'), alt: i.alt }));
    check('the photo loads through the attachment route (naturalWidth > 0)',
          img.w === fx.photo_width && img.h === fx.photo_height, img);
    check('the photo has a text alternative', img.alt === fx.photo_name,
          img);
    const detail = await page.textContent('#detail');
    check('the detail panel shows the report\'s fields',
          detail.includes(fx.summary_text), detail);
    check('a confidential field is not shown',
          !detail.includes(fx.confidential_text), detail);
    const markers = await page.$$eval('#detail .marker',
                                      (ms) => ms.map((m) => m.textContent));
    check('the billing marker reads "ADH × 1.0"',
          JSON.stringify(markers) === JSON.stringify(['ADH \u00d7 1.0']),
          markers);
    check('focus moves to the detail heading',
          await page.evaluate(() => document.activeElement.id)
          === 'detail-title');
    await shot(page, '04-detail-photo');
    await page.keyboard.press('Escape');
    check('Escape closes the panel and focus returns to the report',
          await page.isHidden('#detail')
          && await page.evaluate((id) => document.activeElement
              .dataset.id === String(id), fx.photo_report));

    await page.click(`#incident-rows button.open[data-id="${fx.versioned_report}"]`);
    await page.waitForSelector('#detail:not([aria-busy]) .versions');
    const versions = await page.$$eval('#detail .versions li',
                                       (ls) => ls.length);
    check('the detail panel lists every version of a report',
          versions === 2, versions);
    await page.click('#detail-close');

    /* live: a new incident recorded by "the worker" appears on top */
    await page.waitForSelector('#live-status[data-state=on]',
                               { timeout: WAIT });
    psql(fx.live_insert_sql);
    const liveRow = `#incident-rows tr.is-new[data-id="${fx.live_report}"]`;
    await page.waitForSelector(liveRow, { timeout: WAIT });
    ids = await shownIds(page);
    check('a new incident arrives live, on top of the list',
          ids[0] === fx.live_report, ids.slice(0, 3));
    check('the new incident is marked "New" in words',
          (await page.textContent(liveRow + ' .new-badge')) === 'New');
    check('the arrival is announced in the status region',
          /1 new incident arrived/.test(await page.textContent('#notice')));
    await page.waitForFunction(([name, n]) => Array.from(document
        .querySelectorAll('#chart-per-site li')).some((li) =>
            li.querySelector('.name').textContent === name
            && Number(li.dataset.count) === n),
        [fx.sites[0].name, fx.per_site[1][1] + 1], { timeout: WAIT });
    const severe = await page.$$eval(
        '#chart-per-day rect.bar[data-severity=SEVERE]',
        (rs) => rs.reduce((a, r) => a + Number(r.dataset.count), 0));
    check('the charts count the new incident too', severe === 1, severe);
    await shot(page, '05-live');

    /* a phone */
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => new Promise((done) =>
        requestAnimationFrame(() => requestAnimationFrame(done))));
    const fits = await page.evaluate(() =>
        document.documentElement.scrollWidth
        <= document.documentElement.clientWidth);
    check('on a 390px phone the page does not scroll sideways', fits);
    const spill = await page.evaluate(() => {
        const section = document.querySelector('section.list')
            .getBoundingClientRect();
        return Array.from(document.querySelectorAll('#incident-rows *'))
            .filter((e) => e.getBoundingClientRect().right
                           > Math.min(section.right, e.closest('tr')
                                          .getBoundingClientRect().right)
                             + 0.5)
            .map((e) => e.closest('tr').dataset.id + ' ' + e.tagName
                        + '.' + e.className);
    });
    check('on a phone every incident card fits inside the list',
          spill.length === 0, spill.slice(0, 5));
    const headHidden = await page.$eval('#incidents thead',
        (t) => getComputedStyle(t).display === 'none');
    check('on a phone the incidents are cards with labelled values',
          headHidden);
    await shot(page, '06-phone', false);
    await page.click(opener);
    await page.waitForSelector('#detail:not([aria-busy]) .photos img');
    const box = await page.$eval('#detail', (d) => {
        const r = d.getBoundingClientRect();
        return { w: r.width, vw: innerWidth };
    });
    check('on a phone the detail panel takes the whole width',
          Math.abs(box.w - box.vw) < 1, box);
    await page.focus('#detail-title');
    await page.keyboard.press('Shift+Tab');
    const behind = await page.evaluate(() => {
        const a = document.activeElement;
        return document.querySelector('main').contains(a)
            || document.querySelector('.topbar').contains(a)
            ? a.outerHTML.slice(0, 80) : null;
    });
    check('on a phone the page behind the panel takes no focus (inert)',
          behind === null, behind);
    await shot(page, '07-phone-detail', false);
    await page.click('#detail-close');
    await page.setViewportSize({ width: 1280, height: 900 });

    /* the billing page is the operators': a client's user is told so */
    await page.goto(base + '/portal/billing.html');
    await page.waitForSelector('#page-error:not([hidden])');
    const refused = await page.textContent('#page-error');
    check('a client user on the billing page reads that it is for '
          + 'operators only', /operators only/i.test(refused), refused);
    check('and sees no billing lines',
          await page.$$eval('#line-rows tr', (trs) => trs.length) === 0);
    await page.goto(base + '/portal/');
    await listSettled(page);

    /* sign out: the session is revoked on the server, not only forgotten */
    const token = session ? session.value : '';
    await Promise.all([
        page.waitForURL(/\/portal\/login\.html/, { timeout: WAIT }),
        page.click('#logout')
    ]);
    check('signing out lands on the sign-in page', true);
    const after = await context.cookies(base);
    check('the session cookie is gone',
          !after.some((c) => c.name === 'tt_session' && c.value !== ''),
          after);
    const replay = await fetch(base + '/portal/api/me', {
        headers: { Cookie: 'tt_session=' + token } });
    check('the old session cookie no longer works (401)',
          replay.status === 401, replay.status);
    await page.goto(base + '/portal/');
    check('after signing out /portal/ needs a new sign-in',
          new URL(page.url()).pathname === '/portal/login.html', page.url());
    await shot(page, '08-signed-out');

    await billingAsOperator(page);
    await notificationsOfAClient(context, page);
    process.stdout.write('TT-END\n');
}

/* an operator's billing page: the fixture's line, amount and totals, and
   the CSV of what is shown */
async function billingAsOperator(page) {
    psql('UPDATE billing_lines SET state = \'failed\', last_error = '
         + '\'' + fx.billing_error + '\' WHERE report_id = '
         + fx.photo_report);
    await page.goto(base + '/portal/login.html?next='
                    + encodeURIComponent('/portal/billing.html?client='
                                         + fx.client));
    await page.fill('#email', fx.operator_email);
    await page.fill('#password', fx.password);
    await Promise.all([
        page.waitForURL(/\/portal\/billing\.html/, { timeout: WAIT }),
        page.click('#login-submit')
    ]);
    await page.waitForSelector('#line-rows tr');

    /* a failed line has a Retry button; retried, it is pending again */
    const failed = await page.$$eval('#line-rows tr', (trs) => trs.map(
        (tr) => Array.from(tr.cells, (c) => c.textContent)));
    check('the failed line shows its state and its last error',
          failed.length === 1 && failed[0].includes('Failed')
          && failed[0].includes(fx.billing_error), failed);
    await page.click('#line-rows button');
    await page.waitForFunction(() => /pending again/.test(
        document.getElementById('notice').textContent));
    check('Retry puts it back to pending for the billing sync',
          psql('SELECT state FROM billing_lines WHERE report_id = '
               + fx.photo_report) === 'pending');
    const rows = await page.$$eval('#line-rows tr', (trs) => trs.map(
        (tr) => Array.from(tr.cells, (c) => c.textContent)));
    const want = ['Pending', 'charge', 'ADH', '1', '45.00', '45.00',
                  String(fx.photo_report)];
    check('the operator sees the client\'s billing line: 1 x 45.00 = '
          + '45.00, pending, with its report, and no Retry button',
          rows.length === 1 && want.every((v) => rows[0].includes(v))
          && rows[0][rows[0].length - 1] === '',
          rows);
    const totals = await page.$$eval('#total-rows tr', (trs) => trs.map(
        (tr) => Array.from(tr.cells, (c) => c.textContent)));
    check('and the totals per code, per client and overall',
          totals.length === 3
          && totals.every((t) => t.includes('45.00'))
          && totals[2][0] === 'All clients', totals);
    await shot(page, '09-billing');

    const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click('#csv')
    ]);
    const csv = readFileSync(await download.path(), 'utf8');
    check('its CSV holds the header and the line',
          /^id,state,kind,service_date,/.test(csv)
          && csv.includes(',ADH,1,45.00,45.00,' + fx.photo_report + ','),
          csv);
}

/* a mail's link to an incident (#incident=ID), through the sign-in; then
   the client user's own subscriptions on the notifications page */
async function notificationsOfAClient(context, page) {
    await context.clearCookies();
    await page.goto(base + '/portal/#incident=' + fx.photo_report);
    await page.waitForURL(/\/portal\/login\.html/, { timeout: WAIT });
    await page.fill('#email', fx.email);
    await page.fill('#password', fx.password);
    await Promise.all([
        page.waitForURL(/\/portal\/#incident=/, { timeout: WAIT }),
        page.click('#login-submit')
    ]);
    await page.waitForSelector('#detail:not([hidden])');
    const title = await page.textContent('#detail-title');
    check('a mail\'s #incident=ID link opens that incident after the '
          + 'sign-in', new RegExp('^Report #' + fx.photo_report + '( |$)')
              .test(title), title);
    await shot(page, '10-incident-link');

    await page.goto(base + '/portal/notifications.html');
    await page.waitForSelector('#site-choices input');
    check('a client user does not see the operators\' rules and log',
          await page.isHidden('#operator'));
    await page.check('#site-choices input[value="' + fx.sites[0].id + '"]');
    await page.selectOption('#s-severity', 'HIGH');
    await page.selectOption('#s-mode', 'daily');
    await page.fill('#s-at', '07:30');
    await page.fill('#s-zone', 'America/Toronto');
    await page.click('#s-save');
    await page.waitForSelector('#sub-rows tr');
    const row = await page.$$eval('#sub-rows tr', (trs) => trs.map(
        (tr) => Array.from(tr.cells, (c) => c.textContent)));
    check('subscribing shows the subscription: site, severity, digest',
          row.length === 1 && row[0][0] === fx.sites[0].name
          && row[0][1] === 'High or above'
          && row[0][2] === 'Daily at 07:30', row);
    const stored = psql('SELECT r.min_severity || \' \' || r.mode || \' \''
        + ' || array_to_string(r.site_ids, \',\') FROM notify_rules r'
        + ' JOIN portal_users u ON u.id = r.owner_user_id'
        + ' WHERE lower(u.email) = lower(\'' + fx.email + '\')'
        + ' AND r.deleted_at IS NULL');
    check('stored as the user\'s own rule',
          stored === 'HIGH daily ' + fx.sites[0].id, stored);
    await shot(page, '11-notifications');

    /* the unsubscribe link of a mail for it: asks, then pauses it */
    const token = psql('WITH n AS (INSERT INTO notifications (rule_key,'
        + ' recipient_id, report_id, announce, rule_id, channel, state)'
        + ' SELECT r.rule_key, c.id, 0, \'digest:browser\', r.id, \'email\','
        + ' \'sent\' FROM notify_rules r JOIN notify_recipients c'
        + ' ON c.portal_user_id = r.owner_user_id'
        + ' JOIN portal_users u ON u.id = r.owner_user_id'
        + ' WHERE lower(u.email) = lower(\'' + fx.email + '\')'
        + ' AND r.deleted_at IS NULL RETURNING id)'
        + ' SELECT notify_unsubscribe_token(id) FROM n');
    await page.goto(base + '/portal/notify/unsubscribe?token=' + token);
    await page.waitForSelector('#unsub-confirm:not([hidden])');
    const asked = await page.textContent('#unsub-what');
    check('the unsubscribe link asks first, naming the address',
          asked.includes(fx.email.toLowerCase()), asked);
    await page.click('#unsub-confirm');
    await page.waitForSelector('#unsub-done:not([hidden])');
    await shot(page, '12-unsubscribed');
    await page.goto(base + '/portal/notifications.html');
    await page.waitForSelector('#sub-rows tr');
    const state = await page.$eval('#sub-rows tr',
                                   (tr) => tr.cells[3].textContent);
    check('after unsubscribing, the portal shows the subscription paused',
          state === 'Paused (unsubscribed)', state);

    await page.click('#sub-rows button[aria-label="Delete this '
                     + 'subscription"]');
    await page.waitForSelector('#subs-empty:not([hidden])');
    check('deleting it empties the list', await page.$$eval(
        '#sub-rows tr', (trs) => trs.length) === 0);
}

started(main());
