// oidc-provider.mjs — a real OpenID Provider for crates/berth/tests/oidc.rs:
// the npm package `oidc-provider` (a certified OpenID Connect
// implementation) on 127.0.0.1, with its development login and consent
// pages, one confidential client and the users given in OIDC_ACCOUNTS.
//
// Protocol with the test, one line each way:
//   stdout  issuer <url>              listening (the issuer is known)
//   stdin   client <redirect_uri>     register berth's callback, start serving
//   stdout  ready
//   stdin   groups <sub> <g1,g2,…>    change a user's groups claim ('-' for none)
//   stdin   remove <sub>              remove a user (refresh tokens stop working)
//   stdout  ok
//
// Environment: OIDC_ACCOUNTS = {"<sub>": {"preferred_username", "email",
// "name", "groups": [...]}, …}; OIDC_CLIENT_SECRET; OIDC_TLS_DIR (serve
// https with its tls.crt and tls.key).

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const accounts = new Map(Object.entries(JSON.parse(process.env.OIDC_ACCOUNTS || '{}')));
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'berth-client-secret';

let handler = (req, res) => {
  res.statusCode = 503;
  res.end('not ready');
};
const tlsDir = process.env.OIDC_TLS_DIR;
const scheme = tlsDir ? 'https' : 'http';
const server = tlsDir
  ? https.createServer({
    cert: fs.readFileSync(`${tlsDir}/tls.crt`),
    key: fs.readFileSync(`${tlsDir}/tls.key`),
  }, (req, res) => handler(req, res))
  : http.createServer((req, res) => handler(req, res));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`issuer ${scheme}://127.0.0.1:${port}`);
});

function start(issuer, redirectUri) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'berth',
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    async findAccount(_ctx, sub) {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, ...accounts.get(sub) };
        },
      };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'groups'],
    // The profile, e-mail and groups claims go into the ID token, as most
    // providers (Keycloak, Dex, Entra) put them there.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    // A refresh token for every code exchange, whether or not the consent
    // page granted offline_access.
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    ttl: { IdToken: 3600, AccessToken: 3600, RefreshToken: 86400 },
    cookies: { keys: ['berth-test-cookie-key'] },
  });
  provider.proxy = false;
  handler = provider.callback();
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg, rest] = line.trim().split(/\s+/);
  if (cmd === 'client') {
    const { port } = server.address();
    start(`${scheme}://127.0.0.1:${port}`, arg);
    console.log('ready');
  } else if (cmd === 'groups') {
    const a = accounts.get(arg);
    if (a) a.groups = !rest || rest === '-' ? [] : rest.split(',');
    console.log('ok');
  } else if (cmd === 'remove') {
    accounts.delete(arg);
    console.log('ok');
  }
});
rl.on('close', () => server.close(() => process.exit(0)));
