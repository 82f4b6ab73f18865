// The web UI in headless Chromium (Debian's `chromium`, driven by
// playwright-core): run by crates/berth/tests/ui.rs against a berth it
// started and filled with skopeo. Exits non-zero at the first failed check.
//
// Environment: BERTH_URL, BERTH_ADMIN_PASSWORD, BERTH_GUEST (user:password),
// BERTH_DIGEST_LATEST, BERTH_DIGEST_MULTI, BERTH_REFERRER (digest of a
// referrer of latest), BERTH_REFERRER_TYPE, BERTH_SCREENSHOTS (directory),
// BERTH_CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';

const base = process.env.BERTH_URL;
const shots = process.env.BERTH_SCREENSHOTS;
const latest = process.env.BERTH_DIGEST_LATEST;
const multi = process.env.BERTH_DIGEST_MULTI;
const [guest, guestPassword] = process.env.BERTH_GUEST.split(':');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.BERTH_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const step = (name) => console.log(`ui.mjs: ${name}`);

/// Every form control on the page has an accessible name (a <label> or
/// aria-label), and nothing overflows the viewport sideways.
async function checkAccessible(page, where) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
        && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML.slice(0, 120)));
  assert.deepEqual(unlabelled, [], `${where}: form controls without a label`);
  const overflow = await page.evaluate(() =>
    document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `${where}: the page scrolls sideways by ${overflow}px`);
}

async function signIn(page, user, password, submitWithEnter) {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  if (submitWithEnter) {
    await page.getByLabel('Password').press('Enter');
  } else {
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.getByText(user, { exact: true }).first().waitFor();
}

const repoPath = '#/projects/library/repositories/busybox';

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  // The API's refusals (401 before sign-in, 403 for the guest) and a
  // missing vulnerability report (404) are answers the pages handle; any
  // other failed request is a defect.
  page.on('response', (r) => {
    const expected = [401, 403].includes(r.status())
      || (r.status() === 404 && r.url().includes('/additions/vulnerabilities'));
    if (r.status() >= 400 && !expected) failures.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) failures.push(`console error: ${m.text()}`);
  });

  step('sign in as admin');
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await checkAccessible(page, 'sign-in');
  await page.screenshot({ path: `${shots}/01-sign-in.png` });
  // A wrong password is refused with the server's message.
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'incorrect username or password' }).waitFor();
  await signIn(page, 'admin', process.env.BERTH_ADMIN_PASSWORD, false);

  step('projects list');
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  await page.getByRole('link', { name: 'library', exact: true }).waitFor();
  await checkAccessible(page, 'projects');
  await page.screenshot({ path: `${shots}/02-projects.png` });

  step('the repository skopeo pushed');
  await page.getByRole('link', { name: 'library', exact: true }).click();
  await page.getByRole('link', { name: 'library/busybox' }).click();
  await page.getByRole('heading', { name: 'library/busybox' }).waitFor();
  for (const tag of ['latest', 'stable', 'multi']) {
    await page.getByRole('button', { name: `Delete tag ${tag}` }).waitFor();
  }
  for (const platform of ['linux/amd64', 'linux/arm64']) {
    await page.getByText(platform).first().waitFor();
  }
  await checkAccessible(page, 'repository');
  await page.screenshot({ path: `${shots}/03-repository.png`, fullPage: true });

  step('an image: layers, configuration, referrers');
  await page.goto(`${base}/${repoPath}/artifacts/${latest}`);
  for (const h of ['Layers', 'Configuration', 'Referrers']) {
    await page.getByRole('heading', { name: h }).waitFor();
  }
  const text = await page.locator('main').innerText();
  for (const expected of ['1.0 MiB', '315 B', 'make-images.sh: /etc files', 'GREETING=hello',
    'com.example.arch', latest, process.env.BERTH_REFERRER_TYPE,
    process.env.BERTH_REFERRER.slice(0, 19)]) {
    assert.ok(text.includes(expected), `artifact page lacks ${JSON.stringify(expected)}`);
  }
  await checkAccessible(page, 'artifact');
  await page.screenshot({ path: `${shots}/04-artifact.png`, fullPage: true });

  step('an image index: platforms');
  await page.goto(`${base}/${repoPath}/artifacts/${multi}`);
  await page.getByRole('heading', { name: 'Platforms' }).waitFor();
  const indexText = await page.locator('main').innerText();
  for (const p of ['linux/amd64', 'linux/arm64']) {
    assert.ok(indexText.includes(p), `index page lacks ${p}`);
  }
  await page.screenshot({ path: `${shots}/05-index.png`, fullPage: true });

  step('delete a tag, with confirmation');
  await page.goto(`${base}/${repoPath}`);
  await page.getByRole('button', { name: 'Delete tag stable' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  // Cancel first: nothing is deleted.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Delete tag stable' }).waitFor();
  await page.getByRole('button', { name: 'Delete tag stable' }).click();
  await page.screenshot({ path: `${shots}/06-confirm-delete.png` });
  await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Deleted tag stable' }).waitFor();
  await page.getByRole('button', { name: 'Delete tag stable' }).waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Delete tag latest' }).waitFor();

  step('a user group becomes a member');
  await page.goto(`${base}/#/projects/library/members`);
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.getByLabel('Member type').selectOption('group');
  await page.getByLabel('Username or group name').fill('qa');
  await page.getByRole('button', { name: 'Add member' }).click();
  await page.getByRole('status').filter({ hasText: 'Added qa' }).waitFor();
  await page.getByText('qa (group)').waitFor();
  await checkAccessible(page, 'members');

  step('phone width');
  await page.goto(`${base}/${repoPath}`);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await page.getByRole('heading', { name: 'library/busybox' }).waitFor();
  await checkAccessible(page, 'repository at phone width');
  await page.screenshot({ path: `${shots}/07-repository-phone.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  step('admin pages');
  for (const [link, heading] of [['Users', 'Users'], ['Garbage collection', 'Garbage collection'], ['Audit log', 'Audit log']]) {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
    await page.getByRole('heading', { name: heading, exact: true }).waitFor();
    await checkAccessible(page, heading);
    if (heading === 'Garbage collection') {
      // A run from the UI is a dry run unless unticked (and then confirmed).
      assert.ok(await page.getByLabel('Dry run').isChecked(), 'Dry run is not the default');
    }
  }
  await page.screenshot({ path: `${shots}/08-audit-log.png`, fullPage: true });

  step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  step('a guest is refused a deletion');
  await signIn(page, guest, guestPassword, true);
  await page.goto(`${base}/${repoPath}`);
  await page.getByRole('button', { name: 'Delete tag latest' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: /forbidden/i }).waitFor();
  await page.screenshot({ path: `${shots}/09-guest-refused.png`, fullPage: true });
  await page.getByRole('button', { name: 'Delete tag latest' }).waitFor();
  await context.close();
} catch (e) {
  failures.push(e.stack || String(e));
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('ui.mjs: all checks passed');
