// Enrollment and sign-in against totp-lambda with Descope's web SDK:
// loginId → QR and key → code → signed in → refresh → sign out.
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
const state = { loginId: '', refreshJwt: '', sessionJwt: '', signedOutJwt: '', timer: 0 };
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

/** The `exp` claim of a JWT, for display only (the service and the SDK validate tokens). */
function expiresAt(jwt) {
  try {
    const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(payload)).exp;
    return typeof exp === 'number' ? new Date(exp * 1000) : null;
  } catch {
    return null;
  }
}

/** What an error answer means to the person who caused it. */
function explain(error) {
  const who = state.loginId;
  switch (error && error.errorCode) {
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
    say('error', explain(error), error.errorCode || String((response && response.code) || 'error'));
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

function setBusy(busy) {
  document.body.classList.toggle('busy', busy);
  for (const button of document.querySelectorAll('main button')) button.disabled = busy;
}

// ---- the flow -------------------------------------------------------------

function start() {
  stopTimer();
  state.refreshJwt = '';
  state.sessionJwt = '';
  $('code').value = '';
  $('qr').removeAttribute('src');
  $('key').textContent = '';
  show('start');
  $('login-id').focus();
}

function askForCode(enrolling) {
  $('enrollment').hidden = !enrolling;
  $('code-title').textContent = enrolling ? 'Scan the code with your authenticator app' : 'Sign in';
  $('code-for').textContent = state.loginId;
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
  $('qr').src = `data:image/png;base64,${data.image}`;
  $('key').textContent = (data.key || '').replace(/(.{4})(?=.)/g, '$1 ');
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
  const data = await call('verify', () => sdk.totp.verify(state.loginId, code));
  if (!data) {
    $('code').select();
    return;
  }
  signedIn(data, data.firstSeen ? 'Your authenticator app is set up, and you are signed in.' : 'You are signed in.');
}

function signedIn(data, text) {
  state.sessionJwt = data.sessionJwt || state.sessionJwt;
  state.refreshJwt = data.refreshJwt || state.refreshJwt;
  if (data.user) showUser(data.user);
  const refreshExpiry = data.cookieExpiration ? new Date(data.cookieExpiration * 1000) : expiresAt(state.refreshJwt);
  $('refresh-expiry').textContent = refreshExpiry ? dateTime(refreshExpiry) : 'unknown';
  show('session');
  tick();
  stopTimer();
  state.timer = window.setInterval(tick, 1000);
  say('info', text, 'signed-in');
}

function showUser(user) {
  $('user-login').textContent = (user.loginIds || []).join(', ') || state.loginId;
  $('user-name').textContent = user.name || '—';
  $('user-id').textContent = user.userId || '—';
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
    say('info', `The service knows you as ${(data.loginIds || []).join(', ')}.`, 'me');
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
  state.signedOutJwt = state.refreshJwt;
  state.refreshJwt = '';
  state.sessionJwt = '';
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
    clearMessage();
    start();
  });
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
