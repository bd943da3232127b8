// The sign-in service this page talks to. Set both when you host the page;
// left empty, the page reads ?baseUrl=…&projectId=… from its address instead.
window.TOTP_CONFIG = {
  baseUrl: '', // e.g. the stack's ApiUrl output: https://abc123.execute-api.eu-west-1.amazonaws.com
  projectId: '', // one of the stack's ProjectId values
};
