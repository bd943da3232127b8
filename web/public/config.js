// The sign-in service this page talks to, fixed when the page is built:
//   npm --prefix web run build -- --base-url https://… --project-id P2…
// writes both here and the service's origin into index.html's
// Content-Security-Policy (connect-src), which lets the page call nothing else.
// Editing baseUrl here afterwards is not enough: the policy would block it.
// Left empty, the page says it is not configured and calls nothing.
window.TOTP_CONFIG = {
  baseUrl: '', // e.g. the stack's ApiUrl output: https://abc123.execute-api.eu-west-1.amazonaws.com
  projectId: '', // one of the stack's ProjectId values
};
