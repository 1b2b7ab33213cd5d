#!/usr/bin/env node
// A real OpenID Provider (oidc-provider) for Rookery's single sign-on tests, on loopback.
//
//   node provider.mjs --port P --issuer http://127.0.0.1:P --client-id ID --client-secret S
//       --redirect-uri URI [--redirect-uri URI2] --users FILE.json [--id-token-ttl SECONDS]
//       [--extra-client ID:SECRET ...] [--signing-key PRIVATE-JWK-FILE]
//       [--clock-offset SECONDS] [--id-token-audience AUD]
//
// It signs ID tokens with an EC P-256 key (ES256; --signing-key, else made at start)
// published at /jwks, serves discovery, requires PKCE (S256), shows a plain HTML login
// form (inputs `login` and `password`) whose "Cancel" button denies the request
// (error=access_denied), and grants consent by itself. `--extra-client` registers more
// confidential clients with the same redirect URIs (tests use one to hold another
// client's tokens). `--clock-offset` runs the provider with its clock shifted by that many
// seconds (negative: behind), so the ID tokens it signs carry a shifted iat/exp (its cookies
// still live long enough in the browser's real time). `--id-token-audience` puts that
// audience in the ID tokens it signs instead of the client's id (signed as usual), as a
// misbehaving provider would. Prints
// `oidc-test-provider ready <issuer>` once listening; SIGTERM stops it.

import { createECDH, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`oidc-test-provider: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      users: { type: 'string' },
      'id-token-ttl': { type: 'string', default: '600' },
      'extra-client': { type: 'string', multiple: true, default: [] },
      'signing-key': { type: 'string' },
      'clock-offset': { type: 'string', default: '0' },
      'id-token-audience': { type: 'string' },
    },
    strict: true,
  }));
} catch (error) {
  fail(error.message);
}
for (const name of ['port', 'client-id', 'client-secret', 'redirect-uri', 'users']) {
  if (!args[name]) fail(`--${name} is required`);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad --port ${args.port}`);
const issuer = args.issuer || `http://127.0.0.1:${port}`;
const idTokenTtl = Number(args['id-token-ttl']);
if (!Number.isInteger(idTokenTtl) || idTokenTtl < 1) fail('--id-token-ttl must be a positive integer');
const clockOffset = /^[+-]?\d+$/.test(args['clock-offset']) ? Number(args['clock-offset']) : NaN;
if (!Number.isSafeInteger(clockOffset)) fail(`--clock-offset must be an integer number of seconds, got ${args['clock-offset']}`);
const idTokenAudience = args['id-token-audience'];
if (idTokenAudience !== undefined && !idTokenAudience.trim()) fail('--id-token-audience must not be empty');
// The provider's whole clock (oidc-provider reads Date.now for iat, exp and its own expiries).
if (clockOffset !== 0) {
  const realNow = Date.now;
  Date.now = () => realNow() + clockOffset * 1000;
}
// A clock behind would make the interaction and session cookies expire (in the browser's real
// time) before they are used: they (and the grants behind them) live that much longer.
const cookieSlack = Math.max(0, -clockOffset);

let users;
try {
  users = JSON.parse(readFileSync(args.users, 'utf8'));
} catch (error) {
  fail(`cannot read --users ${args.users}: ${error.message}`);
}
if (!Array.isArray(users)) fail('--users must hold a JSON list of users');
const bySub = new Map(users.map((user) => [String(user.sub), user]));
const byLogin = new Map();
for (const user of users) {
  byLogin.set(String(user.sub), user);
  if (user.email) byLogin.set(String(user.email).toLowerCase(), user);
}

const client = (clientId, secret) => ({
  client_id: clientId,
  client_secret: secret,
  redirect_uris: args['redirect-uri'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'ES256',
});
const clients = [client(args['client-id'], args['client-secret'])];
for (const extra of args['extra-client']) {
  const at = extra.indexOf(':');
  if (at < 1) fail(`--extra-client wants ID:SECRET, got ${extra}`);
  clients.push(client(extra.slice(0, at), extra.slice(at + 1)));
}

// The provider's own signing key (ES256, P-256): from --signing-key (a private JWK file),
// else made now with ECDH (not generateKeyPair: Node 20 can deadlock when a garbage
// collection destroys a key generation job while a key is being exported).
let signingKey;
if (args['signing-key']) {
  try {
    signingKey = JSON.parse(readFileSync(args['signing-key'], 'utf8'));
  } catch (error) {
    fail(`cannot read --signing-key ${args['signing-key']}: ${error.message}`);
  }
  if (signingKey.kty !== 'EC' || signingKey.crv !== 'P-256' || !signingKey.d) {
    fail('--signing-key must hold a private EC P-256 JWK');
  }
} else {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const point = ecdh.getPublicKey(); // 0x04 || x (32 bytes) || y (32 bytes)
  const scalar = ecdh.getPrivateKey();
  const d = Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
  signingKey = {
    kty: 'EC',
    crv: 'P-256',
    x: point.subarray(1, 33).toString('base64url'),
    y: point.subarray(33, 65).toString('base64url'),
    d: d.toString('base64url'),
  };
}
signingKey = { ...signingKey, kid: signingKey.kid || randomBytes(8).toString('hex'), use: 'sig', alg: 'ES256' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // The claims of the granted scopes go in the ID token itself, as most providers do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  ttl: {
    IdToken: idTokenTtl,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600 + cookieSlack,
    Session: 3600 + cookieSlack,
    Grant: 3600 + cookieSlack,
  },
  async findAccount(_ctx, sub) {
    const user = bySub.get(String(sub));
    if (!user) return undefined;
    return {
      accountId: String(user.sub),
      async claims() {
        return {
          sub: String(user.sub),
          email: user.email,
          email_verified: Boolean(user.email_verified),
          name: user.name,
          groups: user.groups || [],
        };
      },
    };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>oidc-test-provider error</title><pre>${escape(JSON.stringify(out))}</pre>`;
  },
});
provider.proxy = false;

if (idTokenAudience !== undefined) {
  // ID tokens (only those) name another audience: the token is issued for a stand-in of the
  // client whose clientId is that audience; everything else is the real client's.
  const BaseIdToken = provider.IdToken;
  // Named IdToken: oidc-provider reads the ttl of a token by its class's name.
  class IdToken extends BaseIdToken {
    async issue(options = {}) {
      if (options.use !== 'idtoken') return super.issue(options);
      const real = this.client;
      this.client = new Proxy(real, {
        get(target, prop) {
          if (prop === 'clientId') return idTokenAudience;
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      try {
        return await super.issue(options);
      } finally {
        this.client = real;
      }
    }
  }
  Object.defineProperty(provider, 'IdToken', { value: IdToken });
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, clientId, error) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to ${escape(clientId)}</h1>
${error ? `<p class="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <input type="text" name="login" placeholder="e-mail" autofocus>
  <input type="password" name="password" placeholder="password">
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort">
  <button type="submit">Cancel</button>
</form>
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function grantConsent(req, res, interaction) {
  const { prompt: { details }, params, session } = interaction;
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  if (details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  const consent = interaction.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

const oidc = provider.callback();
const route = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/abort)?$/;

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  const match = route.exec(path);
  if (!match) {
    oidc(req, res);
    return;
  }
  try {
    const interaction = await provider.interactionDetails(req, res);
    const action = match[2];
    if (!action && req.method === 'GET') {
      if (interaction.prompt.name === 'consent') {
        await grantConsent(req, res, interaction);
      } else {
        send(res, 200, loginPage(interaction.uid, interaction.params.client_id));
      }
    } else if (action === '/login' && req.method === 'POST') {
      const form = await readForm(req);
      const user = byLogin.get(String(form.get('login') || '').toLowerCase());
      if (!user || user.password !== form.get('password')) {
        send(res, 200, loginPage(interaction.uid, interaction.params.client_id, 'wrong login or password'));
        return;
      }
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: String(user.sub) } },
        { mergeWithLastSubmission: false },
      );
    } else if (action === '/abort' && req.method === 'POST') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
    } else {
      send(res, 405, 'method not allowed');
    }
  } catch (error) {
    send(res, 400, `<!doctype html><pre>${escape(error.message)}</pre>`);
  }
});

server.on('error', (error) => fail(error.message));
server.listen(port, args.host, () => {
  process.stdout.write(`oidc-test-provider ready ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
