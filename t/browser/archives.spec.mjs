// The archives page (portal/archives.html) in headless Chromium through
// playwright-core, against real nginx, PostgreSQL and tracktik-worker.
// t/browser/archives.t prepares the data and runs this file; each check
// is one "TT-RESULT {json}" line it turns into a TAP test.
//
// Environment (set by archives.t): PORTAL_URL, TT_FIXTURE (users, client
// ids, the period, the worker's command line), TT_OUTPUT_DIR,
// TT_CHROMIUM.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

import { WAIT, check, started, withBrowser } from './lib/browser.mjs';

const base = process.env.PORTAL_URL;
const fx = JSON.parse(process.env.TT_FIXTURE);

// a zip's members by name (stored or deflated), read through its
// central directory: enough to open the manifest of a download
function unzipMembers(buf) {
    let end = buf.length - 22;
    while (end >= 0 && buf.readUInt32LE(end) !== 0x06054b50) {
        end--;
    }
    if (end < 0) {
        throw new Error('no end of central directory');
    }
    const members = {};
    let p = buf.readUInt32LE(end + 16);
    for (let n = buf.readUInt16LE(end + 10); n > 0; n--) {
        const method = buf.readUInt16LE(p + 10);
        const packed = buf.readUInt32LE(p + 20);
        const nameLen = buf.readUInt16LE(p + 28);
        const skip = nameLen + buf.readUInt16LE(p + 30)
                     + buf.readUInt16LE(p + 32);
        const local = buf.readUInt32LE(p + 42);
        const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
        const at = local + 30 + buf.readUInt16LE(local + 26)
                   + buf.readUInt16LE(local + 28);
        const data = buf.subarray(at, at + packed);
        members[name] = method === 8 ? inflateRawSync(data) : data;
        p += 46 + skip;
    }
    return members;
}

async function signIn(context, page, email, next) {
    await context.clearCookies();
    await page.goto(base + '/portal/login.html?next='
                    + encodeURIComponent(next));
    await page.fill('#email', email);
    await page.fill('#password', fx.password);
    await Promise.all([
        page.waitForURL((u) => u.pathname === next, { timeout: WAIT }),
        page.click('#login-submit')
    ]);
}

async function rows(page) {
    return page.$$eval('#archive-rows tr', (trs) => trs.map((tr) => ({
        id: Number(tr.cells[0].textContent),
        cells: Array.from(tr.cells, (c) => c.textContent),
        link: tr.querySelector('a') && tr.querySelector('a').href
    })));
}

async function request(page, from, to, client) {
    const before = await page.textContent('#request-status');
    await page.fill('#r-from', from);
    await page.fill('#r-to', to);
    if (client !== undefined) {
        await page.selectOption('#r-client', String(client));
    }
    await page.click('#request');
    await page.waitForFunction((b) => {
        const s = document.getElementById('request-status').textContent;
        return s !== '' && s !== b && s !== 'Requesting…';
    }, before, { timeout: WAIT });
    return page.textContent('#request-status');
}

async function clientUser(context, page) {
    /* the incidents page links to the archives page */
    await signIn(context, page, fx.email.a, '/portal/');
    await Promise.all([
        page.waitForURL(/\/portal\/archives\.html$/, { timeout: WAIT }),
        page.click('header a[href="/portal/archives.html"]')
    ]);
    check('the incidents page\'s navigation leads to the archives page',
          new URL(page.url()).pathname === '/portal/archives.html');
    await page.waitForFunction(() =>
        document.getElementById('user-email').textContent !== '');
    check('a client user gets no client selector',
          await page.isHidden('#client-field'));

    let said = await request(page, fx.to, fx.from);
    check('a backwards period: the server\'s own error, verbatim',
          said === 'the period must run forward and span at most 366 days',
          said);

    said = await request(page, fx.from, fx.to);
    const m = /^Archive (\d+) of (\S+) to (\S+) is queued\.$/.exec(said);
    check('"Request archive" queues it and says so', m
          && m[2] === fx.from && m[3] === fx.to, said);
    const id = m ? Number(m[1]) : -1;
    await page.waitForSelector('#archive-rows tr');
    let list = await rows(page);
    const queued = list.find((r) => r.id === id);
    check('the list shows it queued, with its period and client, no link',
          queued && queued.cells[1] === fx.from + ' to ' + fx.to
          && queued.cells[2] === String(fx.client_a)
          && queued.cells[3] === 'Queued' && !queued.link, list);
    check('and says it refreshes by itself',
          /refreshes by itself/.test(await page.textContent('#list-status')));
    check('another client\'s archive is not listed',
          !list.some((r) => r.id === fx.b_archive)
          && list.every((r) => r.cells[2] === String(fx.client_a)), list);
    await page.screenshot({ path: join(process.env.TT_OUTPUT_DIR,
                                       'archives-1-queued.png') });

    /* the queue's worker builds it; the page notices by itself */
    execFileSync(fx.worker[0], fx.worker.slice(1), { stdio: 'ignore' });
    await page.waitForSelector('#archive-rows tr[data-state="ready"] a',
                               { timeout: WAIT });
    list = await rows(page);
    const ready = list.find((r) => r.id === id);
    check('once built it shows Ready, its incidents and a Download link',
          ready && ready.cells[3] === 'Ready'
          && ready.cells[5] === String(fx.incidents)
          && /^[0-9a-f]{64}$/.test(ready.cells[7])
          && ready.link === base + '/portal/api/archive/' + id, list);
    check('the refreshing stops when nothing is pending',
          await page.textContent('#list-status') === '');
    await page.screenshot({ path: join(process.env.TT_OUTPUT_DIR,
                                       'archives-2-ready.png') });

    const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: WAIT }),
        page.click('#archive-rows tr[data-state="ready"] a')
    ]);
    const zip = readFileSync(await download.path());
    check('the download is a zip (PK header)',
          zip.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 3, 4])),
          zip.subarray(0, 8).toString('hex'));
    check('whose SHA-256 is the one the page shows',
          ready && createHash('sha256').update(zip).digest('hex')
                   === ready.cells[7]);
    let manifest = null;
    try {
        manifest = JSON.parse(unzipMembers(zip)['manifest.json']);
    } catch (e) {
        check('the manifest opens', false, String(e));
    }
    check('its manifest lists incidents.csv and counts the incidents',
          manifest && manifest.files.some((f) => f.name === 'incidents.csv')
          && manifest.counts.incidents === fx.incidents
          && manifest.client_id === fx.client_a, manifest);
}

async function operator(context, page) {
    await signIn(context, page, fx.email.ops, '/portal/archives.html');
    await page.waitForSelector('#client-field:not([hidden])');
    await page.waitForSelector('#r-client option[value="' + fx.client_b
                               + '"]', { state: 'attached' });
    const options = await page.$$eval('#r-client option',
                                      (os) => os.map((o) => o.value));
    check('an operator picks the client from a selector of the clients',
          options.includes(String(fx.client_a))
          && options.includes(String(fx.client_b)), options);
    const said = await request(page, fx.from, fx.to, fx.client_b);
    check('and requests an archive for one',
          /^Archive \d+ of .* is queued\.$/.test(said), said);
    await page.waitForSelector('#archive-rows tr');
    const list = await rows(page);
    check('an operator sees every client\'s archives, the failed one too',
          list.some((r) => r.id === fx.b_archive
                           && /^Failed/.test(r.cells[3]))
          && list.some((r) => r.cells[2] === String(fx.client_a)), list);
    await page.screenshot({ path: join(process.env.TT_OUTPUT_DIR,
                                       'archives-3-operator.png') });
    /* leave nothing queued behind for the next suite */
    execFileSync(fx.worker[0], fx.worker.slice(1), { stdio: 'ignore' });
}

started(withBrowser(async (context, page) => {
    await clientUser(context, page);
    await operator(context, page);
    console.log('TT-END');
}));
