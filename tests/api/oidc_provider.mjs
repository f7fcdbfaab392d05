// A real OpenID provider for the single sign-on tests: `oidc-provider` from npm (an OpenID
// Certified implementation, the version pinned in tests/api/oidc.rs), run by Node.js on
// 127.0.0.1. The test copies this file next to the installed package and runs it; it prints
// `{"port": N}` once listening, then takes its configuration over HTTP:
//
//   POST /__test/setup    {"clients": [...], "accounts": {...}}   (re)builds the provider, with a
//                         new signing key each time: a second setup is a key rotation; with
//                         `"id_token_claims": true` the claims go in the ID token and the
//                         provider has no user info endpoint
//   POST /__test/accounts {"accounts": {...}}                     replaces the accounts
//   POST /__test/tamper   {"audience": "x" | null}                ID tokens name another audience
//
// Accounts are `{"<sub>": {"email": ..., "email_verified": ..., "name": ...}}`. Sign-in uses the
// package's own development interactions: POST /interaction/<uid> with `prompt=login` and
// `login=<sub>`; consent is granted without asking.
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

// Standard output carries the port line alone (the test stops reading it after that): the
// package's notices go to standard error.
console.log = console.info = (...args) => console.error(...args);
process.stdout.on('error', () => {});

const port = Number(process.argv[2] || 0);
let accounts = {};
let tamperAudience = null;
let provider = null;
let issuer = null;

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

function build(clients, idTokenClaims) {
  const built = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      // `xms_edov`: Entra ID's "email domain owner verified", for the test that it counts.
      email: ['email', 'email_verified', 'xms_edov'],
      profile: ['name'],
    },
    // By default the code flow's ID token carries `sub` alone, the rest is at user info.
    conformIdTokenClaims: !idTokenClaims,
    features: { devInteractions: { enabled: true }, userinfo: { enabled: !idTokenClaims } },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() { return { sub: id, ...account }; },
      };
    },
    // Consent is given without asking: the test signs in, the grant follows.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  // Tampering, for the test that a token for another audience is refused: the ID token is
  // signed as the provider signs it, for a client it does not name.
  const issue = built.IdToken.prototype.issue;
  built.IdToken.prototype.issue = async function tampered(options) {
    if (tamperAudience && options?.use === 'idtoken') {
      const client = this.client;
      this.client = Object.create(client, { clientId: { value: tamperAudience } });
      try {
        return await issue.call(this, options);
      } finally {
        this.client = client;
      }
    }
    return issue.call(this, options);
  };
  return built;
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

const server = http.createServer(async (req, res) => {
  if (req.url.startsWith('/__test/')) {
    try {
      const input = await readJson(req);
      if (req.url === '/__test/setup') {
        if (input.accounts) accounts = input.accounts;
        provider = build(input.clients, input.id_token_claims === true);
      } else if (req.url === '/__test/accounts') {
        accounts = input.accounts;
      } else if (req.url === '/__test/tamper') {
        tamperAudience = input.audience ?? null;
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(204).end();
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error?.stack || error));
    }
    return;
  }
  if (!provider) {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('not set up yet');
    return;
  }
  provider.callback()(req, res);
});

server.listen(port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

// The test owns this process: when its pipe closes, the provider ends.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
