// What the browser scripts share (t/browser/*.spec.mjs): their results
// as "TT-RESULT {json}" lines for the .t wrapper (lib/TTBrowser.pm), and
// one headless Debian Chromium session that also records every script
// error and Content-Security-Policy refusal.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WAIT = 30000;      // the longest any one step may wait

export function report(ok, name, diag) {
    const line = { ok: !!ok, name };
    if (!ok && diag !== undefined) {
        line.diag = typeof diag === 'string' ? diag : JSON.stringify(diag);
    }
    process.stdout.write('TT-RESULT ' + JSON.stringify(line) + '\n');
}

export function check(name, cond, diag) {
    report(cond, name, diag);
    return cond;
}

// runs steps(context, page) in a fresh profile; a step that throws is a
// failed check (then onFailure(page), a screenshot say), and the session
// must end with no script error or CSP refusal
export async function withBrowser(steps, onFailure) {
    const profile = mkdtempSync(join(tmpdir(), 'tt-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.TT_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        acceptDownloads: true,
        viewport: { width: 1280, height: 900 },
        args: ['--headless', '--no-sandbox', '--disable-gpu',
               '--disable-quic', '--no-first-run',
               '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               // containers often have a small /dev/shm
               '--disable-dev-shm-usage']
    });
    context.setDefaultTimeout(WAIT);

    const problems = [];        // script errors and CSP refusals
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push('page error: ' + err.message));
    page.on('console', (msg) => {
        // 401s (the wrong password, "/me" before sign-in) are logged by
        // Chromium as failed loads; they are expected
        if (msg.type() === 'error'
            && !/^Failed to load resource/.test(msg.text())) {
            problems.push('console: ' + msg.text());
        }
    });

    try {
        await steps(context, page);
    } catch (err) {
        report(false, 'the browser session ran to the end',
               String(err && err.stack || err));
        if (onFailure) {
            await onFailure(page).catch(() => {});
        }
    }
    check('no script errors or Content-Security-Policy refusals',
          problems.length === 0, problems);

    await context.close();
    rmSync(profile, { recursive: true, force: true });
}

export function started(promise) {
    return promise.catch((err) => {
        report(false, 'the browser started', String(err && err.stack || err));
        process.exitCode = 1;
    });
}
