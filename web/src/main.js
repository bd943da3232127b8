// Enrollment and sign-in against totp-lambda with Descope's web SDK:
// loginId → QR and key → code → signed in → refresh → sign out; recovery
// codes (created while signed in, shown once, copy and download) and a
// sign-in with one, which leads to a new authenticator (update → verify).
// The service's base URL and project id come from config.js (window.TOTP_CONFIG)
// only, fixed when the page is built or served (build.mjs, serve.py): never from
// the page's address, so a link cannot send loginIds and codes to another server.
// The page's Content-Security-Policy (connect-src) names that service's origin only.
import createSdk from '@descope/web-js-sdk';

const $ = (id) => document.getElementById(id);

function readConfig() {
  const file = window.TOTP_CONFIG || {};
  const pick = (name) => String(file[name] || '').trim();
  return { baseUrl: pick('baseUrl').replace(/\/+$/, ''), projectId: pick('projectId') };
}

const config = readConfig();
const state = {
  loginId: '',
  refreshJwt: '',
  sessionJwt: '',
  signedOutJwt: '',
  timer: 0,
  // Signed in with a recovery code: the page leads to a new authenticator.
  viaRecovery: false,
  // Setting up a new authenticator (update): the code step confirms it.
  replacing: false,
  // Recovery codes left, as the service last said (null: not known).
  recoveryLeft: null,
  // The codes just created, only while they are on the screen.
  codes: [],
};
let sdk = null;

// ---- what the person sees ------------------------------------------------

function show(step) {
  for (const section of document.querySelectorAll('main > section[data-step]')) {
    section.hidden = section.dataset.step !== step;
  }
  document.body.dataset.state = step;
}

function clearMessage() {
  const box = $('message');
  box.hidden = true;
  box.className = '';
  box.dataset.code = '';
  $('message-text').textContent = '';
  $('message-action').hidden = true;
}

/** A message for the person; `code` (an error code or a word) is for tests and support. */
function say(kind, text, code = '', action = null) {
  const box = $('message');
  box.hidden = false;
  box.className = kind;
  box.dataset.code = code;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  $('message-text').textContent = text;
  box.scrollIntoView({ block: 'nearest' });
  const button = $('message-action');
  button.hidden = !action;
  button.onclick = null;
  if (action) {
    button.textContent = action.label;
    button.onclick = () => {
      clearMessage();
      action.run();
    };
  }
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `${hours} hour${hours === 1 ? '' : 's'}${rest ? ` ${rest} minute${rest === 1 ? '' : 's'}` : ''}`;
}

const clock = (date) => date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTime = (date) => date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });

/** One claim of a JWT, for display only (the service and the SDK validate tokens). */
function claim(jwt, name) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload))[name];
  } catch {
    return undefined;
  }
}

/** The `exp` claim of a JWT, for display only. */
function expiresAt(jwt) {
  const exp = claim(jwt, 'exp');
  return typeof exp === 'number' ? new Date(exp * 1000) : null;
}

/** What an error answer means to the person who caused it; `what` names the call. */
function explain(error, what = '') {
  const who = state.loginId;
  const code = error && error.errorCode;
  if (what === 'recovery') {
    // Never repeats the code that was typed.
    if (code === 'E061102') {
      return 'That recovery code is not right, or it was used already: each code works once. Check it against the codes you saved, or try another one.';
    }
    if (code === 'E011003' || code === 'E011002') {
      return 'That is not a recovery code: a recovery code has 12 letters and digits, like ABCD-EFGH-IJKL.';
    }
  }
  if (what === 'recovery-codes' && code === 'E061102') {
    return 'That code is not right, or it is one that was used already (such as the code you signed in with): each code works once. Wait until your app shows a new code (every 30 seconds) and type that one.';
  }
  if (what === 'replace' && code === 'E061102') {
    return 'That code is not right. Type the code your NEW authenticator app shows now for this account (it changes every 30 seconds).';
  }
  switch (code) {
    case 'E064002':
      return 'Setting up a new authenticator needs a recent sign-in (within the last few minutes). Sign in again, then set it up right away.';
    case 'E061102':
      return 'That code is not right. Type the code your app shows now: it changes every 30 seconds, and each code works once. If it keeps failing, check that your phone sets its clock automatically.';
    case 'E061103': {
      const wait = Number(error.retryAfter) || 0;
      return wait > 0
        ? `Too many wrong codes. For your safety, sign-in for ${who} is paused: try again in ${duration(wait)} (at ${clock(new Date(Date.now() + wait * 1000))}).`
        : `Too many wrong codes. For your safety, sign-in for ${who} is paused: try again later.`;
    }
    case 'E062107':
      return `${who} already has an authenticator app set up. Sign in with a code from that app instead.`;
    case 'E062108':
      return `No authenticator app is set up for ${who} yet, or its setup expired. Set one up first.`;
    case 'E064001':
      return 'This session was signed out. Sign in again.';
    case 'E061004':
      return 'This session has expired or is not valid. Sign in again.';
    case 'E011002':
    case 'E011003':
      return error.errorMessage || error.errorDescription || 'The service did not accept this request.';
    case 'E010001':
      return 'The service is busy right now. Try again in a moment.';
    default:
      return (error && (error.errorMessage || error.errorDescription)) || 'Something went wrong. Try again.';
  }
}

/** Runs one SDK call; on a refusal or a failure tells the person and returns null. */
async function call(what, run) {
  clearMessage();
  setBusy(true);
  try {
    const response = await run();
    if (response && response.ok) return response.data || {};
    const error = (response && response.error) || {};
    say('error', explain(error, what), error.errorCode || String((response && response.code) || 'error'));
    return null;
  } catch (failure) {
    // fetch rejects without an answer: offline, a wrong address, or a browser
    // that refused the answer because this page's origin is not allowed (CORS).
    console.error(`${what} failed`, failure);
    say(
      'error',
      `Could not reach the sign-in service at ${config.baseUrl}. Check your connection and try again. ` +
        `If this keeps happening, the service may not allow this page's address (${window.location.origin}): ` +
        'its operator adds it to ALLOWED_ORIGINS.',
      'network',
    );
    return null;
  } finally {
    setBusy(false);
  }
}

/**
 * A POST to one of this service's own routes (which the SDK has no call for),
 * through the SDK's HTTP client: the same base URL, project and headers as
 * its own calls, `Authorization: Bearer <projectId>[:<token>]`. Answers as
 * the SDK's calls do: { ok, code, data } or { ok, code, error }.
 */
async function post(path, body, token = '') {
  const response = await sdk.httpClient.post(path, body, token ? { token } : undefined);
  let json = {};
  try {
    json = await response.json();
  } catch {
    json = {};
  }
  const out = { ok: response.ok, code: response.status };
  if (response.ok) out.data = json;
  else {
    out.error = json && typeof json === 'object' ? json : {};
    if (response.status === 429) out.error.retryAfter = Number.parseInt(response.headers.get('retry-after'), 10) || 0;
  }
  return out;
}

function setBusy(busy) {
  document.body.classList.toggle('busy', busy);
  for (const button of document.querySelectorAll('main button')) button.disabled = busy;
}

// ---- the flow -------------------------------------------------------------

function start() {
  stopTimer();
  forgetCodes();
  state.refreshJwt = '';
  state.sessionJwt = '';
  state.viaRecovery = false;
  state.replacing = false;
  state.recoveryLeft = null;
  $('code').value = '';
  $('recovery-code').value = '';
  $('recovery-codes-totp').value = '';
  clearEnrollment();
  show('start');
  $('login-id').focus();
}

function clearEnrollment() {
  $('qr').removeAttribute('src');
  $('key').textContent = '';
}

function showEnrollment(data) {
  $('qr').src = `data:image/png;base64,${data.image}`;
  $('key').textContent = (data.key || '').replace(/(.{4})(?=.)/g, '$1 ');
}

function askForCode(enrolling) {
  $('enrollment').hidden = !enrolling;
  $('code-title').textContent = state.replacing
    ? 'Scan the code with your new authenticator app'
    : enrolling
      ? 'Scan the code with your authenticator app'
      : 'Sign in';
  $('code-for').textContent = state.loginId;
  $('start-over').textContent = state.replacing ? 'Cancel' : 'Start over';
  $('code').value = '';
  show('code');
  $('code').focus();
}

async function signUp() {
  if (!readLoginId()) return;
  const name = $('name').value.trim();
  const data = await call('sign-up', () => sdk.totp.signUp(state.loginId, name ? { name } : undefined));
  if (!data) {
    if ($('message').dataset.code === 'E062107') {
      say('error', $('message-text').textContent, 'E062107', { label: 'Sign in instead', run: () => askForCode(false) });
    }
    return;
  }
  showEnrollment(data);
  askForCode(true);
}

function signIn() {
  if (!readLoginId()) return;
  clearMessage();
  askForCode(false);
}

function readLoginId() {
  const loginId = $('login-id').value.trim();
  if (!loginId) {
    say('error', 'Type your email address or user name first.', 'loginId');
    $('login-id').focus();
    return false;
  }
  state.loginId = loginId;
  return true;
}

async function verify() {
  const code = $('code').value.replace(/\s/g, '');
  if (!/^\d{6}$/.test(code)) {
    say('error', 'Type the 6 digits your authenticator app shows.', 'code');
    $('code').focus();
    return;
  }
  const replacing = state.replacing;
  const data = await call(replacing ? 'replace' : 'verify', () => sdk.totp.verify(state.loginId, code));
  if (!data) {
    $('code').select();
    return;
  }
  $('code').value = '';
  if (replacing) {
    // The new key is the user's now; the sessions opened before it ended.
    state.replacing = false;
    state.viaRecovery = false;
    clearEnrollment();
    signedIn(
      data,
      'Your new authenticator app is set up, and you are signed in. The old one no longer works.' +
        ' Create new recovery codes below if you used some.',
      'replaced',
    );
    return;
  }
  state.viaRecovery = false;
  signedIn(data, data.firstSeen ? 'Your authenticator app is set up, and you are signed in.' : 'You are signed in.');
}

function signedIn(data, text, code = 'signed-in') {
  state.sessionJwt = data.sessionJwt || state.sessionJwt;
  state.refreshJwt = data.refreshJwt || state.refreshJwt;
  if (data.user) showUser(data.user);
  const refreshExpiry = data.cookieExpiration ? new Date(data.cookieExpiration * 1000) : expiresAt(state.refreshJwt);
  $('refresh-expiry').textContent = refreshExpiry ? dateTime(refreshExpiry) : 'unknown';
  showSignInMethod();
  closeRecoveryCodesForm();
  show('session');
  tick();
  stopTimer();
  state.timer = window.setInterval(tick, 1000);
  say('info', text, code);
}

function showUser(user) {
  $('user-login').textContent = (user.loginIds || []).join(', ') || state.loginId;
  $('user-name').textContent = user.name || '—';
  $('user-id').textContent = user.userId || '—';
  if (typeof user.recoveryCodes === 'number') state.recoveryLeft = user.recoveryCodes;
  showRecoveryLeft();
}

function showRecoveryLeft() {
  const left = state.recoveryLeft;
  $('recovery-left').textContent = left === null ? 'unknown' : left === 0 ? 'none' : String(left);
  $('create-recovery-codes').textContent = left ? 'Create new recovery codes' : 'Create recovery codes';
  $('recovery-offer-text').textContent = left
    ? `You have ${left} unused recovery code${left === 1 ? '' : 's'}. New codes replace them: the old ones then stop working.`
    : 'If you lose your phone, a recovery code gets you back in. Create ten and keep them somewhere safe, away from the phone.';
}

/** The session's sign-in method (its `amr` claim, for display; or how this page signed in). */
function showSignInMethod() {
  const amr = claim(state.sessionJwt, 'amr');
  const recovery = state.viaRecovery || (Array.isArray(amr) && amr.includes('recovery'));
  $('signed-in-with').textContent = recovery ? 'a recovery code' : 'your authenticator app';
  $('replace-notice').hidden = !recovery;
  // Creating codes needs a code of the current authenticator, which someone who
  // lost it does not have: after a recovery, the new authenticator comes first.
  $('recovery-offer').hidden = recovery;
  $('replace-authenticator').classList.toggle('secondary', !recovery);
}

function tick() {
  const expiry = expiresAt(state.sessionJwt);
  const out = $('session-expiry');
  if (!expiry) {
    out.textContent = 'unknown';
    return;
  }
  const left = (expiry.getTime() - Date.now()) / 1000;
  out.textContent =
    left > 0 ? `${clock(expiry)} (in ${duration(left)})` : `${clock(expiry)} (expired: refresh to get a new one)`;
  out.classList.toggle('expired', left <= 0);
}

function stopTimer() {
  if (state.timer) window.clearInterval(state.timer);
  state.timer = 0;
}

async function refresh() {
  const data = await call('refresh', () => sdk.refresh(state.refreshJwt));
  if (data) signedIn(data, 'Session refreshed: a new session token was issued.');
  else sessionRefused();
}

async function me() {
  const data = await call('me', () => sdk.me(state.refreshJwt));
  if (data) {
    showUser(data);
    const left = typeof data.recoveryCodes === 'number' ? ` You have ${data.recoveryCodes} recovery code${data.recoveryCodes === 1 ? '' : 's'} left.` : '';
    say('info', `The service knows you as ${(data.loginIds || []).join(', ')}.${left}`, 'me');
  } else sessionRefused();
}

/** A refused session (signed out elsewhere, expired): back to the start, saying why. */
function sessionRefused() {
  const code = $('message').dataset.code;
  if (code === 'E064001' || code === 'E061004') {
    const text = $('message-text').textContent;
    start();
    say('error', text, code);
  }
}

async function signOut() {
  const data = await call('sign-out', () => sdk.logout(state.refreshJwt));
  if (!data) return;
  stopTimer();
  forgetCodes();
  state.signedOutJwt = state.refreshJwt;
  state.refreshJwt = '';
  state.sessionJwt = '';
  state.viaRecovery = false;
  state.replacing = false;
  show('signed-out');
  say('info', 'You are signed out.', 'signed-out');
}

/** After signing out: shows that the service now refuses the old session. */
async function tryOldSession() {
  const data = await call('old session', () => sdk.refresh(state.signedOutJwt));
  if (data) {
    say('error', 'The old session still works: sign-out did not take effect.', 'still-valid');
    return;
  }
  const { code } = $('message').dataset;
  if (code === 'E064001') {
    say('info', 'As expected, the service refuses the old session: it was signed out.', 'E064001');
  }
}

// ---- recovery codes: create, show once, copy, download ---------------------

function openRecoveryCodesForm() {
  clearMessage();
  $('recovery-codes-form').hidden = false;
  $('create-recovery-codes').hidden = true;
  $('recovery-codes-totp').value = '';
  $('recovery-codes-totp').focus();
}

function closeRecoveryCodesForm() {
  $('recovery-codes-form').hidden = true;
  $('create-recovery-codes').hidden = false;
  $('recovery-codes-totp').value = '';
}

async function createRecoveryCodes() {
  const field = $('recovery-codes-totp');
  const code = field.value.replace(/\s/g, '');
  if (!/^\d{6}$/.test(code)) {
    say('error', 'Type the 6 digits your authenticator app shows now (a new code, not the one you signed in with).', 'code');
    field.focus();
    return;
  }
  const data = await call('recovery-codes', () =>
    post('/v1/auth/totp/recovery-codes', { loginId: state.loginId, code }, state.refreshJwt),
  );
  field.value = '';
  if (!data) {
    sessionRefused();
    field.focus();
    return;
  }
  const codes = Array.isArray(data.recoveryCodes) ? data.recoveryCodes.map(String) : [];
  if (!codes.length) {
    say('error', 'The service created no recovery codes. Try again.', 'no-codes');
    return;
  }
  closeRecoveryCodesForm();
  state.recoveryLeft = codes.length;
  showRecoveryLeft();
  showCodes(codes);
}

/** The codes, this once. They leave the page (and its memory) with the next step. */
function showCodes(codes) {
  state.codes = codes;
  const list = $('recovery-code-list');
  list.replaceChildren(
    ...codes.map((code) => {
      const item = document.createElement('li');
      const text = document.createElement('code');
      text.textContent = code;
      item.append(text);
      return item;
    }),
  );
  show('recovery-codes');
  say(
    'info',
    `Here are your ${codes.length} recovery codes. Copy or download them now: they will not be shown again.`,
    'recovery-codes',
  );
}

function forgetCodes() {
  state.codes = [];
  $('recovery-code-list').replaceChildren();
  window.getSelection()?.removeAllRanges();
}

function codesText() {
  return `${state.codes.join('\n')}\n`;
}

/** Selects the list, so that the person can copy it by hand. */
function selectCodes() {
  const range = document.createRange();
  range.selectNodeContents($('recovery-code-list'));
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copyCodes() {
  if (!state.codes.length) return;
  try {
    if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(codesText());
    say('info', 'Copied the recovery codes. Paste them somewhere safe, such as a password manager.', 'copied');
    return;
  } catch {
    // Refused (no permission, the page not focused) or no clipboard API: the old way.
  }
  selectCodes();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  if (copied) {
    say('info', 'Copied the recovery codes. Paste them somewhere safe, such as a password manager.', 'copied');
  } else {
    say(
      'error',
      'This browser did not let the page copy. The codes are selected: copy them with Ctrl+C (⌘C on a Mac), or download them.',
      'copy-manual',
    );
  }
}

/** A .txt file with the codes, from a blob: URL through an <a download>: no request, no navigation. */
function downloadCodes() {
  if (!state.codes.length) return;
  const lines = [
    `Recovery codes for ${state.loginId}`,
    `Sign-in service: ${config.baseUrl} (project ${config.projectId})`,
    `Created: ${new Date().toISOString()}`,
    '',
    'Each code signs you in once if you lose your authenticator app.',
    'Keep this file somewhere safe. Creating new codes makes these stop working.',
    '',
    ...state.codes,
    '',
  ];
  const blob = new Blob([lines.join('\n')], { type: 'text/plain;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = 'recovery-codes.txt';
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  say('info', 'Downloaded recovery-codes.txt. Keep it somewhere safe, not on your phone.', 'downloaded');
}

function codesSaved() {
  forgetCodes();
  show('session');
  say(
    'info',
    `Your ${state.recoveryLeft} recovery codes are ready. If you lose your phone, choose "Use a recovery code" when you sign in.`,
    'codes-saved',
  );
}

// ---- sign-in with a recovery code, then a new authenticator -----------------

function openRecovery() {
  clearMessage();
  $('recovery-login-id').value = $('login-id').value.trim();
  $('recovery-code').value = '';
  show('recovery');
  ($('recovery-login-id').value ? $('recovery-code') : $('recovery-login-id')).focus();
}

async function redeemRecoveryCode() {
  const loginId = $('recovery-login-id').value.trim();
  if (!loginId) {
    say('error', 'Type your email address or user name first.', 'loginId');
    $('recovery-login-id').focus();
    return;
  }
  const field = $('recovery-code');
  // As the service reads it: case, spaces and dashes do not matter.
  const recoveryCode = field.value.replace(/[\s-]/g, '').toUpperCase();
  if (!/^[A-Z2-7]{12}$/.test(recoveryCode)) {
    say('error', 'That is not a recovery code: a recovery code has 12 letters and digits, like ABCD-EFGH-IJKL.', 'recoveryCode');
    field.focus();
    return;
  }
  state.loginId = loginId;
  $('login-id').value = loginId;
  const data = await call('recovery', () => post('/v1/auth/totp/recovery', { loginId, recoveryCode }));
  if (!data) {
    field.focus();
    field.select();
    return;
  }
  field.value = '';
  state.viaRecovery = true;
  const left = data.user && typeof data.user.recoveryCodes === 'number' ? data.user.recoveryCodes : null;
  signedIn(
    data,
    'You are signed in with a recovery code, which no longer works.' +
      (left === null ? '' : ` You have ${left} left.`) +
      ' If you lost your phone, set up a new authenticator app now.',
    'recovered',
  );
}

/** update: a new key for this user, shown as at enrollment; a code of it (verify) makes it theirs. */
async function replaceAuthenticator() {
  const data = await call('update', () => sdk.totp.update(state.loginId, state.refreshJwt));
  if (!data) {
    const code = $('message').dataset.code;
    if (code === 'E064002') {
      say('error', $('message-text').textContent, code, { label: 'Sign in again', run: start });
    } else sessionRefused();
    return;
  }
  state.replacing = true;
  showEnrollment(data);
  askForCode(true);
  say(
    'info',
    'Add this account to your new authenticator app, then type the code it shows. Until you do, nothing changes.',
    'replacing',
  );
}

/** Leaves the new authenticator's setup: the pending key is not confirmed. */
function cancelReplace() {
  state.replacing = false;
  clearEnrollment();
  $('code').value = '';
  showSignInMethod();
  show('session');
  say('info', 'Nothing changed: your authenticator app is the one you had.', 'replace-cancelled');
}

// ---- start-up -----------------------------------------------------------

function init() {
  const ok = /^https?:\/\/[^\s/]+(\/\S*)?$/.test(config.baseUrl) && /^[A-Za-z0-9]+$/.test(config.projectId);
  $('service').textContent = ok ? `${config.baseUrl} (project ${config.projectId})` : 'not configured';
  if (!ok) {
    show('unconfigured');
    return;
  }
  sdk = createSdk({
    projectId: config.projectId,
    baseUrl: config.baseUrl,
    // The page keeps the tokens in memory only, and refreshes when asked.
    persistTokens: false,
    autoRefresh: false,
    storeLastAuthenticatedUser: false,
  });
  $('start-form').addEventListener('submit', (event) => {
    event.preventDefault();
    signUp();
  });
  $('sign-in').addEventListener('click', signIn);
  $('code-form').addEventListener('submit', (event) => {
    event.preventDefault();
    verify();
  });
  $('start-over').addEventListener('click', () => {
    if (state.replacing) {
      cancelReplace();
      return;
    }
    clearMessage();
    start();
  });
  $('use-recovery').addEventListener('click', openRecovery);
  $('recovery-form').addEventListener('submit', (event) => {
    event.preventDefault();
    redeemRecoveryCode();
  });
  $('recovery-back').addEventListener('click', () => {
    clearMessage();
    start();
  });
  $('create-recovery-codes').addEventListener('click', openRecoveryCodesForm);
  $('recovery-codes-form').addEventListener('submit', (event) => {
    event.preventDefault();
    createRecoveryCodes();
  });
  $('cancel-codes').addEventListener('click', () => {
    clearMessage();
    closeRecoveryCodesForm();
  });
  $('copy-codes').addEventListener('click', copyCodes);
  $('download-codes').addEventListener('click', downloadCodes);
  $('codes-saved').addEventListener('click', codesSaved);
  $('replace-authenticator').addEventListener('click', replaceAuthenticator);
  $('refresh').addEventListener('click', refresh);
  $('me').addEventListener('click', me);
  $('sign-out').addEventListener('click', signOut);
  $('old-session').addEventListener('click', tryOldSession);
  $('again').addEventListener('click', () => {
    clearMessage();
    start();
  });
  start();
}

init();
