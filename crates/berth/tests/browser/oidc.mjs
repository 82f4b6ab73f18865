// OpenID Connect sign-in in headless Chromium (Debian's `chromium`, driven
// by playwright-core): run by crates/berth/tests/oidc.rs against a berth
// with auth.identity = "oidc" and the provider of oidc-provider.mjs.
//
// 1. The sign-in page offers "Sign in with <provider>"; the provider's login
//    and consent pages lead back to berth, signed in as the user.
// 2. The account page makes a CLI secret; it is printed as
//    `CLI_SECRET=<secret>` for the test to use with docker.
// 3. A sign-in whose authorization request was altered (another nonce) is
//    refused by berth, which shows why on the sign-in page.
//
// Environment: BERTH_URL, OIDC_ISSUER, OIDC_USER, OIDC_PROVIDER_NAME,
// BERTH_SCREENSHOTS, BERTH_CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';

const base = process.env.BERTH_URL;
const issuer = process.env.OIDC_ISSUER;
const user = process.env.OIDC_USER;
const providerName = process.env.OIDC_PROVIDER_NAME;
const shots = process.env.BERTH_SCREENSHOTS;
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.BERTH_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
const step = (name) => console.log(`oidc.mjs: ${name}`);

/// At the provider: its development login page (any password) and consent.
async function atProvider(page) {
  const login = page.locator('input[name="login"]');
  const consent = page.getByRole('button', { name: 'Continue' });
  const back = page.waitForURL((u) => u.toString().startsWith(base), { timeout: 15000 });
  // The provider may remember the browser and skip either page.
  await Promise.race([login.waitFor({ timeout: 15000 }), back]).catch(() => {});
  if (page.url().startsWith(issuer) && await login.isVisible()) {
    await login.fill(user);
    await page.locator('input[name="password"]').fill('any password: the development login page checks none');
    await page.getByRole('button', { name: 'Sign-in' }).click();
  }
  await Promise.race([consent.waitFor({ timeout: 15000 }), back]).catch(() => {});
  if (page.url().startsWith(issuer) && await consent.isVisible()) {
    await consent.click();
  }
  await page.waitForURL((u) => u.toString().startsWith(base), { timeout: 15000 });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    const ours = r.url().startsWith(base);
    // 401 before sign-in (/c/session) is how the page learns it must sign in.
    if (ours && r.status() >= 400 && r.status() !== 401) failures.push(`HTTP ${r.status()} for ${r.url()}`);
  });

  step('sign in through the provider');
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const button = page.getByRole('link', { name: `Sign in with ${providerName}` });
  await button.waitFor();
  await page.screenshot({ path: `${shots}/oidc-01-sign-in.png` });
  await button.click();
  await page.waitForURL((u) => u.toString().startsWith(issuer));
  await atProvider(page);
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  await page.getByRole('link', { name: user, exact: true }).waitFor();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();

  step('make a CLI secret on the account page');
  await page.getByRole('link', { name: user, exact: true }).click();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await page.getByText('the OpenID Connect provider').waitFor();
  await page.getByRole('button', { name: 'Generate a new CLI secret' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Generate', exact: true }).click();
  const secretInput = page.getByTestId('cli-secret');
  await secretInput.waitFor();
  const secret = await secretInput.inputValue();
  assert.match(secret, /^[A-Za-z0-9]{32}$/, 'the CLI secret is 32 letters and digits');
  await page.screenshot({ path: `${shots}/oidc-02-cli-secret.png`, fullPage: true });
  console.log(`CLI_SECRET=${secret}`);

  step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();

  step('an answer with another nonce is refused');
  // berth's redirect to the provider, taken without following it (the
  // context keeps the pending sign-in cookie), then sent on with another
  // nonce: the ID token the provider issues carries that nonce.
  const started = await page.request.get(`${base}/c/oidc/login`, { maxRedirects: 0 });
  assert.equal(started.status(), 303);
  const authorize = new URL(started.headers().location);
  assert.ok(authorize.toString().startsWith(issuer), `redirects to the provider: ${authorize}`);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256', 'PKCE S256');
  assert.ok(authorize.searchParams.get('nonce'), 'a nonce is sent');
  authorize.searchParams.set('nonce', 'not-the-nonce-berth-sent');
  await page.goto(authorize.toString());
  await atProvider(page);
  const alert = page.getByRole('alert');
  await alert.waitFor();
  const text = await alert.textContent();
  assert.match(text, /nonce/i, `the refusal names the nonce: ${text}`);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0, 'not signed in');
  await page.screenshot({ path: `${shots}/oidc-03-nonce-refused.png` });
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
console.log('oidc.mjs: all checks passed');
