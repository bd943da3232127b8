// The management API through Descope's official Node SDK (@descope/node-sdk, pinned
// in package.json): create, batch create, activate/deactivate, search, load by
// userId, delete by userIds, and TOTP sign-in of users created with a seed.
//
// Runs against a server that is already up (tests/e2e/test_node_sdk.py starts it
// as part of the e2e suite):
//   TOTP_BASE_URL        base URL serving every route
//   TOTP_PROJECT_ID      a project the server serves
//   TOTP_MANAGEMENT_KEY  a management key of that project
//
//   node --test tests/node/management.test.mjs
//
// The SDK answers every call with {ok, code, data, error}; the tests assert on
// those. TOTP codes come from the RFC 4226/6238 implementation below (node:crypto),
// never from the server or the SDK.

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import DescopeClient from '@descope/node-sdk';

const BASE_URL = (process.env.TOTP_BASE_URL ?? '').trim().replace(/\/+$/, '');
const PROJECT_ID = (process.env.TOTP_PROJECT_ID ?? '').trim();
const MANAGEMENT_KEY = (process.env.TOTP_MANAGEMENT_KEY ?? '').trim();
const missing = Object.entries({
  TOTP_BASE_URL: BASE_URL,
  TOTP_PROJECT_ID: PROJECT_ID,
  TOTP_MANAGEMENT_KEY: MANAGEMENT_KEY,
})
  .filter(([, value]) => !value)
  .map(([name]) => name);
if (missing.length > 0) {
  throw new Error(
    `environment variable(s) ${missing.join(', ')} not set: these tests need a running server ` +
      '(TOTP_BASE_URL), a project it serves (TOTP_PROJECT_ID) and its management key (TOTP_MANAGEMENT_KEY)',
  );
}

const ALREADY_REGISTERED = 'E062107';
const NOT_FOUND = 'E062108';
const INVALID_ARGUMENT = 'E011003';
const USER_DISABLED = 'E064003';

// The management client holds the key; the auth client is what an application's
// backend uses to sign users in (no key).
const mgmt = DescopeClient({ projectId: PROJECT_ID, managementKey: MANAGEMENT_KEY, baseUrl: BASE_URL });
const auth = DescopeClient({ projectId: PROJECT_ID, baseUrl: BASE_URL });

// One random part per run: every loginId of this run contains it.
const RUN = randomBytes(8).toString('hex');
let loginIdCount = 0;
function newLoginId(what) {
  loginIdCount += 1;
  return `node-${RUN}-${what}-${String(loginIdCount).padStart(2, '0')}@example.com`;
}

// --------------------------------------------------------------------------
// Base32 and TOTP (RFC 4648, RFC 4226, RFC 6238), independent of the server
// --------------------------------------------------------------------------

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, upper case, without padding. */
function base32(bytes) {
  let out = '';
  let value = 0;
  let bits = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** RFC 4226 HOTP with the given HMAC hash ('sha1', 'sha256', 'sha512') and digits. */
function hotp(key, counter, { algorithm = 'sha1', digits = 6 } = {}) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary =
    ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 TOTP at a unix time (seconds). */
function totpAt(key, unixSeconds, { algorithm = 'sha1', digits = 6, period = 30 } = {}) {
  return hotp(key, Math.floor(unixSeconds / period), { algorithm, digits });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A code of the current step is used only while that step lasts this much longer;
// otherwise the next step's (the server accepts one step of skew either side).
const STEP_MARGIN_SECONDS = 3;

/**
 * The time steps one user's codes are taken from. The server refuses a code whose
 * step is not newer than the last one it accepted, so each code sent for a user
 * (accepted or refused: the refused ones are counted too, to be safe) comes from a
 * step newer than the previous one; when the next step is not yet in reach, wait.
 */
class StepClock {
  constructor(period) {
    this.period = period;
    this.lastUsed = null;
  }

  async freshStep() {
    for (;;) {
      const now = Date.now() / 1000;
      const current = Math.floor(now / this.period);
      const left = (current + 1) * this.period - now;
      const earliest = left > STEP_MARGIN_SECONDS ? current : current + 1;
      const step = this.lastUsed === null ? earliest : Math.max(earliest, this.lastUsed + 1);
      if (step <= current + 1) {
        this.lastUsed = step;
        return step;
      }
      // `step` comes in reach (as the next step) when the step before it begins.
      await sleep(((step - 1) * this.period + 0.5 - now) * 1000);
    }
  }
}

/** A user's TOTP key and parameters, and the clock of its codes. */
class TotpKey {
  constructor(key, { algorithm = 'sha1', digits = 6, period = 30 } = {}) {
    this.key = key;
    this.params = { algorithm, digits, period };
    this.clock = new StepClock(period);
  }

  async freshCode() {
    const step = await this.clock.freshStep();
    return hotp(this.key, step, this.params);
  }
}

// --------------------------------------------------------------------------
// Assertions on the SDK's {ok, code, data, error}
// --------------------------------------------------------------------------

function describeResponse(resp) {
  return `ok=${resp?.ok} code=${resp?.code} error=${JSON.stringify(resp?.error)} data=${JSON.stringify(resp?.data)}`;
}

/** The call succeeded: its data. */
function expectOk(resp, what) {
  assert.equal(resp.ok, true, `${what}: expected success, got ${describeResponse(resp)}`);
  assert.equal(resp.code, 200, `${what}: ${describeResponse(resp)}`);
  assert.equal(resp.error, undefined, `${what}: ${describeResponse(resp)}`);
  assert.notEqual(resp.data, undefined, `${what}: no data`);
  return resp.data;
}

/** The call failed with this HTTP status and errorCode, in the contract's error body. */
function expectError(resp, status, errorCode, what) {
  assert.equal(resp.ok, false, `${what}: expected ${status} ${errorCode}, got ${describeResponse(resp)}`);
  assert.equal(resp.code, status, `${what}: ${describeResponse(resp)}`);
  assert.equal(resp.data, undefined, `${what}: ${describeResponse(resp)}`);
  assert.equal(resp.error?.errorCode, errorCode, `${what}: ${describeResponse(resp)}`);
  for (const field of ['errorDescription', 'errorMessage']) {
    assert.equal(typeof resp.error[field], 'string', `${what}: error.${field}: ${describeResponse(resp)}`);
    assert.ok(resp.error[field].length > 0, `${what}: empty error.${field}`);
  }
  return resp.error;
}

/** A user object of the contract for this loginId; returns it. */
function expectUser(user, loginId, { status, totp } = {}) {
  assert.equal(typeof user, 'object', `user: ${JSON.stringify(user)}`);
  assert.deepEqual(user.loginIds, [loginId], `user.loginIds: ${JSON.stringify(user)}`);
  assert.equal(typeof user.userId, 'string', `user.userId: ${JSON.stringify(user)}`);
  assert.ok(user.userId.length > 0, 'empty userId');
  assert.ok(Number.isInteger(user.createdTime), `user.createdTime: ${JSON.stringify(user)}`);
  if (status !== undefined) assert.equal(user.status, status, `user.status: ${JSON.stringify(user)}`);
  if (totp !== undefined) assert.equal(user.TOTP, totp, `user.TOTP: ${JSON.stringify(user)}`);
  return user;
}

const loginIdsOf = (users) => users.map((u) => u.loginIds[0]);
const sorted = (strings) => [...strings].sort();

/** A well-formed userId (the server's shape: U2 + base32 of 16 bytes) that no user has. */
const unknownUserId = () => `U2${base32(randomBytes(16))}`;

/**
 * A read-only call, sent again (three times at most) while `cargo lambda watch`
 * answers with its own 500: it loses a large answer now and then under load,
 * after the function answered. The service never answers with that body.
 */
async function resent(call) {
  let resp = await call();
  for (let i = 0; i < 3 && resp?.ok === false && resp?.code === 500 && resp?.error?.type === 'https://httpstatuses.com/500'; i += 1) {
    resp = await call();
  }
  return resp;
}

/** search(): the users, with `total` (the page's count) checked. */
async function searchUsers(request, what) {
  const page = expectOk(await resent(() => mgmt.management.user.search(request)), what);
  assert.ok(Array.isArray(page.users), `${what}: users: ${JSON.stringify(page)}`);
  assert.equal(page.total, page.users.length, `${what}: total is the page's count: ${JSON.stringify(page)}`);
  return page.users;
}

async function createUser(loginId, options = {}) {
  const user = expectOk(
    await mgmt.management.user.create(loginId, { email: loginId, ...options }),
    `create ${loginId}`,
  );
  return expectUser(user, loginId, { status: 'enabled', totp: false });
}

/** A TOTP sign-in through the SDK that must succeed; checks the session JWT with the published keys. */
async function signIn(loginId, totpKey, userId) {
  const code = await totpKey.freshCode();
  const data = expectOk(await auth.totp.verify(loginId, code), `totp.verify ${loginId}`);
  assert.equal(typeof data.sessionJwt, 'string', `sessionJwt: ${JSON.stringify(data)}`);
  assert.equal(typeof data.refreshJwt, 'string', 'refreshJwt');
  expectUser(data.user, loginId, { status: 'enabled', totp: true });
  assert.equal(data.user.userId, userId);
  // The SDK verifies the signature with a key it fetched from /v2/keys/{projectId}.
  const session = await auth.validateSession(data.sessionJwt);
  assert.equal(session.token.sub, userId);
  return data;
}

// --------------------------------------------------------------------------
// The TOTP implementation itself (RFC 4648, RFC 4226 and RFC 6238 vectors)
// --------------------------------------------------------------------------

test('the independent base32 and TOTP agree with the RFC test vectors', () => {
  // RFC 4648 section 10 (without the padding).
  const b32 = { '': '', f: 'MY', fo: 'MZXQ', foo: 'MZXW6', foob: 'MZXW6YQ', fooba: 'MZXW6YTB', foobar: 'MZXW6YTBOI' };
  for (const [text, encoded] of Object.entries(b32)) assert.equal(base32(Buffer.from(text)), encoded, text);
  // RFC 4226 appendix D.
  const secret = Buffer.from('12345678901234567890');
  assert.deepEqual(
    [0, 1, 2, 9].map((c) => hotp(secret, c)),
    ['755224', '287082', '359152', '520489'],
  );
  // RFC 6238 appendix B (8 digits, 30 s).
  const keys = {
    sha1: secret,
    sha256: Buffer.from('12345678901234567890123456789012'),
    sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
  };
  const vectors = [
    [59, { sha1: '94287082', sha256: '46119246', sha512: '90693936' }],
    [1111111109, { sha1: '07081804', sha256: '68084774', sha512: '25091201' }],
    [20000000000, { sha1: '65353130', sha256: '77737706', sha512: '47863826' }],
  ];
  for (const [time, codes] of vectors) {
    for (const [algorithm, code] of Object.entries(codes)) {
      assert.equal(totpAt(keys[algorithm], time, { algorithm, digits: 8 }), code, `${algorithm} at ${time}`);
    }
  }
  // A 60 s period: one code for both halves of a minute.
  assert.equal(
    totpAt(keys.sha256, 120, { algorithm: 'sha256', digits: 8, period: 60 }),
    totpAt(keys.sha256, 179, { algorithm: 'sha256', digits: 8, period: 60 }),
  );
});

// --------------------------------------------------------------------------
// create, load by userId
// --------------------------------------------------------------------------

test('user.create: an enabled user without TOTP; loadByUserId finds it; a second create is refused', async () => {
  const loginId = newLoginId('create');
  const user = await createUser(loginId, {
    displayName: 'Ada Lovelace',
    givenName: 'Ada',
    familyName: 'Lovelace',
  });
  assert.equal(user.email, loginId);
  assert.equal(user.name, 'Ada Lovelace');
  assert.equal(user.givenName, 'Ada');
  assert.equal(user.familyName, 'Lovelace');

  // Right after the create (strongly consistent): by userId and by loginId.
  const byId = expectOk(await mgmt.management.user.loadByUserId(user.userId), 'loadByUserId');
  expectUser(byId, loginId, { status: 'enabled', totp: false });
  assert.equal(byId.userId, user.userId);
  assert.equal(byId.name, 'Ada Lovelace');
  const byLoginId = expectOk(await mgmt.management.user.load(loginId), 'load');
  assert.equal(byLoginId.userId, user.userId);

  // The same loginId again: 409 E062107, and nothing changed.
  expectError(
    await mgmt.management.user.create(loginId, { email: loginId, displayName: 'Someone Else' }),
    409,
    ALREADY_REGISTERED,
    'create of an existing loginId',
  );
  const after = expectOk(await mgmt.management.user.loadByUserId(user.userId), 'loadByUserId after the refused create');
  assert.equal(after.name, 'Ada Lovelace');
  assert.equal(after.createdTime, user.createdTime);
});

test('user.loadByUserId: an unknown userId is 404 E062108', async () => {
  expectError(await mgmt.management.user.loadByUserId(unknownUserId()), 404, NOT_FOUND, 'loadByUserId unknown');
});

// --------------------------------------------------------------------------
// activate / deactivate
// --------------------------------------------------------------------------

test('user.deactivate and user.activate switch the status; an unknown loginId is 404 E062108', async () => {
  const loginId = newLoginId('status');
  const user = await createUser(loginId);

  const disabled = expectOk(await mgmt.management.user.deactivate(loginId), 'deactivate');
  expectUser(disabled, loginId, { status: 'disabled' });
  assert.equal(disabled.userId, user.userId);
  const loadedDisabled = expectOk(await mgmt.management.user.loadByUserId(user.userId), 'load after deactivate');
  assert.equal(loadedDisabled.status, 'disabled');

  const enabled = expectOk(await mgmt.management.user.activate(loginId), 'activate');
  expectUser(enabled, loginId, { status: 'enabled' });
  const loadedEnabled = expectOk(await mgmt.management.user.load(loginId), 'load after activate');
  assert.equal(loadedEnabled.status, 'enabled');

  const unknown = newLoginId('nobody');
  expectError(await mgmt.management.user.deactivate(unknown), 404, NOT_FOUND, 'deactivate unknown');
  expectError(await mgmt.management.user.activate(unknown), 404, NOT_FOUND, 'activate unknown');
  // Neither call created the unknown user.
  expectError(await mgmt.management.user.load(unknown), 404, NOT_FOUND, 'load unknown');
});

// --------------------------------------------------------------------------
// search
// --------------------------------------------------------------------------

test('user.search and user.searchAll: loginIds, statuses, text, pages in loginId order', async () => {
  const ids = ['a', 'b', 'c', 'd'].map((tag) => newLoginId(`search-${tag}`));
  const users = {};
  for (const id of ids) users[id] = await createUser(id, { displayName: `Search ${id.slice(-16)}` });
  const expected = sorted(ids);

  // Exactly the users asked for, in loginId order.
  const found = await searchUsers({ loginIds: ids, limit: 100 }, 'search by loginIds');
  assert.deepEqual(loginIdsOf(found), expected);
  for (const u of found) {
    expectUser(u, u.loginIds[0], { status: 'enabled', totp: false });
    assert.equal(u.userId, users[u.loginIds[0]].userId);
  }
  const one = await searchUsers({ loginIds: [ids[1]] }, 'search by one loginId');
  assert.deepEqual(loginIdsOf(one), [ids[1]]);
  assert.deepEqual(
    await searchUsers({ loginIds: [newLoginId('nobody')] }, 'search by an unknown loginId'),
    [],
  );

  // Pages of 2 of those users: disjoint, in order, then an empty page.
  const page0 = await searchUsers({ loginIds: ids, limit: 2, page: 0 }, 'search page 0');
  const page1 = await searchUsers({ loginIds: ids, limit: 2, page: 1 }, 'search page 1');
  const page2 = await searchUsers({ loginIds: ids, limit: 2, page: 2 }, 'search page 2');
  assert.deepEqual(loginIdsOf(page0), expected.slice(0, 2));
  assert.deepEqual(loginIdsOf(page1), expected.slice(2, 4));
  assert.deepEqual(page2, []);

  // searchAll over the whole project (tenantIds, roles, limit, page): pages of 2,
  // disjoint and ascending (the project holds at least the four users above).
  const all0 = expectOk(await resent(() => mgmt.management.user.searchAll(undefined, undefined, 2, 0)), 'searchAll page 0');
  const all1 = expectOk(await resent(() => mgmt.management.user.searchAll(undefined, undefined, 2, 1)), 'searchAll page 1');
  assert.equal(all0.length, 2, JSON.stringify(loginIdsOf(all0)));
  assert.equal(all1.length, 2, JSON.stringify(loginIdsOf(all1)));
  const both = [...loginIdsOf(all0), ...loginIdsOf(all1)];
  for (let i = 1; i < both.length; i += 1) {
    assert.ok(both[i - 1] < both[i], `searchAll pages not disjoint and ascending: ${JSON.stringify(both)}`);
  }

  // Text: a case-insensitive substring of the loginId (the run's random part).
  const byText = await searchUsers({ text: `${RUN}-SEARCH-`.toUpperCase() }, 'search by text');
  assert.deepEqual(loginIdsOf(byText), expected);

  // Statuses, after a deactivate.
  const off = ids[2];
  expectOk(await mgmt.management.user.deactivate(off), 'deactivate');
  const disabled = await searchUsers({ loginIds: ids, statuses: ['disabled'] }, 'search disabled');
  assert.deepEqual(loginIdsOf(disabled), [off]);
  assert.equal(disabled[0].status, 'disabled');
  const enabled = await searchUsers({ loginIds: ids, statuses: ['enabled'] }, 'search enabled');
  assert.deepEqual(loginIdsOf(enabled), expected.filter((id) => id !== off));
  for (const u of enabled) assert.equal(u.status, 'enabled');
  const eitherStatus = await searchUsers(
    { loginIds: ids, statuses: ['enabled', 'disabled'] },
    'search enabled or disabled',
  );
  assert.deepEqual(loginIdsOf(eitherStatus), expected);

  // searchAll with statuses ['disabled'] over the whole project, page by page:
  // only disabled users, among them this one and none of the enabled three.
  const seen = [];
  for (let page = 0; page < 100; page += 1) {
    const batch = expectOk(
      await resent(() =>
        mgmt.management.user.searchAll(undefined, undefined, 100, page, undefined, undefined, undefined, ['disabled']),
      ),
      `searchAll disabled page ${page}`,
    );
    for (const u of batch) assert.equal(u.status, 'disabled', JSON.stringify(u));
    seen.push(...loginIdsOf(batch));
    if (batch.length < 100) break;
  }
  assert.ok(seen.includes(off), `searchAll(statuses: disabled) misses ${off}`);
  for (const id of ids.filter((i) => i !== off)) assert.ok(!seen.includes(id), `${id} is enabled`);
});

// --------------------------------------------------------------------------
// delete by userIds
// --------------------------------------------------------------------------

test('user.deleteBatch: the users are gone by userId, loginId and search; unknown ids are ignored', async () => {
  const ids = [newLoginId('delete'), newLoginId('delete')];
  const users = [];
  for (const id of ids) users.push(await createUser(id));
  const keep = await createUser(newLoginId('keep'));

  expectOk(
    await mgmt.management.user.deleteBatch([...users.map((u) => u.userId), unknownUserId()]),
    'deleteBatch',
  );
  for (const [i, user] of users.entries()) {
    expectError(await mgmt.management.user.loadByUserId(user.userId), 404, NOT_FOUND, 'loadByUserId deleted');
    expectError(await mgmt.management.user.load(ids[i]), 404, NOT_FOUND, 'load deleted');
  }
  assert.deepEqual(await searchUsers({ loginIds: ids }, 'search deleted'), []);
  // The user not in the batch is still there.
  expectOk(await mgmt.management.user.loadByUserId(keep.userId), 'loadByUserId kept');

  // The loginId is free again: a new user with a new userId; the old userId stays unknown.
  const again = await createUser(ids[0]);
  assert.notEqual(again.userId, users[0].userId);
  expectError(await mgmt.management.user.loadByUserId(users[0].userId), 404, NOT_FOUND, 'old userId');
  const loaded = expectOk(await mgmt.management.user.loadByUserId(again.userId), 'loadByUserId re-created');
  assert.deepEqual(loaded.loginIds, [ids[0]]);
});

// --------------------------------------------------------------------------
// batch create with seeds, sign-in with those seeds, disabled users
// --------------------------------------------------------------------------

test('user.inviteBatch with seeds: created with TOTP, a bad seed fails alone, seeds never echoed; the users sign in', async () => {
  const plainKey = randomBytes(20);
  const spacedKey = randomBytes(20);
  const urlKey = randomBytes(20);
  const badKey = randomBytes(10); // 80 bits: below the 128 the server requires

  const plainSeed = base32(plainKey);
  // Lower case, in groups of four: the same key to the server.
  const spacedSeed = base32(spacedKey)
    .toLowerCase()
    .match(/.{1,4}/g)
    .join(' ');
  const plainId = newLoginId('batch-plain');
  const spacedId = newLoginId('batch-spaced');
  const urlId = newLoginId('batch-url');
  const badId = newLoginId('batch-bad');
  const urlSeed =
    `otpauth://totp/Node%20SDK:${encodeURIComponent(urlId)}?secret=${base32(urlKey)}` +
    '&algorithm=SHA256&digits=8&period=60&issuer=Node%20SDK';
  const badSeed = base32(badKey);
  const secrets = [base32(plainKey), base32(spacedKey), base32(urlKey), badSeed];

  const batch = [
    { loginId: plainId, email: plainId, displayName: 'Plain Seed', seed: plainSeed },
    { loginId: spacedId, email: spacedId, displayName: 'Spaced Seed', seed: spacedSeed },
    { loginId: urlId, email: urlId, displayName: 'URL Seed', seed: urlSeed },
    { loginId: badId, email: badId, displayName: 'Bad Seed', seed: badSeed },
  ];
  const first = await mgmt.management.user.inviteBatch(batch);
  const answer = expectOk(first, 'inviteBatch');
  const text = JSON.stringify(answer);
  // (The messages name the seed's position only: a failure must not print it.)
  for (const [i, secret] of secrets.entries()) {
    assert.ok(!text.toUpperCase().includes(secret), `the answer echoes seed ${i}`);
  }
  assert.ok(!text.toLowerCase().includes(spacedSeed), 'the answer echoes the spaced seed');

  assert.equal(answer.createdUsers.length, 3, text);
  const created = Object.fromEntries(answer.createdUsers.map((u) => [u.loginIds[0], u]));
  assert.deepEqual(sorted(Object.keys(created)), sorted([plainId, spacedId, urlId]));
  for (const [id, name] of [
    [plainId, 'Plain Seed'],
    [spacedId, 'Spaced Seed'],
    [urlId, 'URL Seed'],
  ]) {
    expectUser(created[id], id, { status: 'enabled', totp: true });
    assert.equal(created[id].name, name);
    assert.equal(created[id].email, id);
  }
  assert.equal(answer.failedUsers.length, 1, text);
  const [failed] = answer.failedUsers;
  assert.deepEqual(failed.user.loginIds, [badId], text);
  assert.match(failed.failure, new RegExp(`^${INVALID_ARGUMENT}: `), text);
  assert.ok(!failed.failure.toUpperCase().includes(badSeed), 'the failure names the seed');
  expectError(await mgmt.management.user.load(badId), 404, NOT_FOUND, 'the failed user was not created');

  // Each created user is stored as answered, right away.
  for (const id of [plainId, spacedId, urlId]) {
    const loaded = expectOk(await mgmt.management.user.loadByUserId(created[id].userId), `loadByUserId ${id}`);
    expectUser(loaded, id, { status: 'enabled', totp: true });
  }

  // The same batch again (createBatch: the same route without "invite"): nothing
  // created; the three registered users fail with E062107, the bad seed again with E011003.
  const second = expectOk(await mgmt.management.user.createBatch(batch), 'createBatch, the same users again');
  const secondText = JSON.stringify(second);
  for (const [i, secret] of secrets.entries()) {
    assert.ok(!secondText.toUpperCase().includes(secret), `the second answer echoes seed ${i}`);
  }
  assert.deepEqual(second.createdUsers, [], secondText);
  assert.equal(second.failedUsers.length, 4, secondText);
  const failures = Object.fromEntries(second.failedUsers.map((f) => [f.user.loginIds[0], f.failure]));
  for (const id of [plainId, spacedId, urlId]) {
    assert.match(failures[id] ?? '', new RegExp(`^${ALREADY_REGISTERED}: `), secondText);
  }
  assert.match(failures[badId] ?? '', new RegExp(`^${INVALID_ARGUMENT}: `), secondText);

  // Nothing changed: same userIds, and the original seeds sign in.
  for (const id of [plainId, spacedId, urlId]) {
    const loaded = expectOk(await mgmt.management.user.load(id), `load ${id}`);
    assert.equal(loaded.userId, created[id].userId);
    assert.equal(loaded.createdTime, created[id].createdTime);
  }

  const plain = new TotpKey(plainKey);
  const spaced = new TotpKey(spacedKey);
  const url = new TotpKey(urlKey, { algorithm: 'sha256', digits: 8, period: 60 });

  // The otpauth user's codes are 8 digits of HMAC-SHA256 over 60 s steps: the
  // SHA1, 6-digit, 30 s code of the same key is refused.
  const sha1Code = totpAt(urlKey, Date.now() / 1000);
  const refused = await auth.totp.verify(urlId, sha1Code);
  assert.equal(refused.ok, false, `a SHA1/6/30 code signed in the SHA256/8/60 user: ${describeResponse(refused)}`);
  assert.ok([400, 401].includes(refused.code), describeResponse(refused));

  await signIn(urlId, url, created[urlId].userId);
  await signIn(spacedId, spaced, created[spacedId].userId);

  // A disabled user's correct code is refused with 403 E064003; once enabled, the
  // user signs in (with a code of a later step: the refused one is not reused).
  expectOk(await mgmt.management.user.deactivate(plainId), 'deactivate');
  const whileDisabled = await auth.totp.verify(plainId, await plain.freshCode());
  expectError(whileDisabled, 403, USER_DISABLED, 'verify of a disabled user');
  const enabledAgain = expectOk(await mgmt.management.user.activate(plainId), 'activate');
  assert.equal(enabledAgain.status, 'enabled');
  await signIn(plainId, plain, created[plainId].userId);

  // The same for a user who has signed in before, with 8-digit codes.
  const urlDisabled = expectOk(await mgmt.management.user.deactivate(urlId), 'deactivate the otpauth user');
  assert.equal(urlDisabled.status, 'disabled');
  expectError(await auth.totp.verify(urlId, await url.freshCode()), 403, USER_DISABLED, 'verify disabled (8 digits)');
});
