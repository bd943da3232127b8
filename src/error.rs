//! The one error type of the domain, and its one mapping to HTTP status and
//! Descope error code. Nothing else in the crate chooses a status or a code.

use std::fmt;

/// Why a request failed. Variants carry only what is safe to show a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Body is not JSON, not an object, or a field has the wrong type.
    MalformedBody,
    /// Body is larger than the limit.
    BodyTooLarge,
    /// A required argument is missing or empty.
    MissingArgument(&'static str),
    /// An argument is present but not acceptable.
    InvalidArgument(&'static str),
    /// Authorization header missing or malformed, or the project is not served here.
    Unauthorized,
    /// A management route without a valid management key of the project.
    ManagementKeyRefused,
    /// The refresh JWT is invalid, expired, or of another project or user.
    InvalidRefreshToken,
    /// The refresh JWT was revoked: logout, logout-all, a new key, or its user is gone.
    SessionRevoked,
    /// The sign-in behind the refresh JWT is too old for this action
    /// (changing the key): sign in again, or step up.
    StaleSession,
    /// An administrator disabled the user: no sign-in, no session.
    UserDisabled,
    /// Signup for a loginId that is already registered.
    AlreadyRegistered,
    /// No such user, or a pending sign-up that expired.
    UserNotFound,
    /// Wrong, expired or replayed code: one answer for all three.
    WrongCode,
    /// A sign-in link that is wrong, spent or expired: one answer for all three.
    LinkRefused,
    /// Too many wrong codes; try again after this many seconds.
    LockedOut { retry_after: u64 },
    /// The route does not take this method.
    MethodNotAllowed,
    /// A function was handed a path it does not serve (a routing mistake).
    UnknownRoute,
    /// Storage (or a key store) unreachable, throttled or timed out.
    Unavailable,
    /// Anything else. Details go to the log, never to the caller.
    Internal,
}

/// What a caller sees of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub code: &'static str,
    pub description: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

/// Seconds a client should wait before retrying a 503.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 1;

impl Error {
    pub fn reply(&self) -> Reply {
        let (status, code, description, message, retry_after): (u16, _, _, String, _) = match self {
            Error::MalformedBody => (
                400,
                "E011001",
                "Bad request",
                "The request body must be a JSON object with fields of the documented types".into(),
                None,
            ),
            Error::BodyTooLarge => (
                413,
                "E011001",
                "Bad request",
                "The request body is too large".into(),
                None,
            ),
            Error::MissingArgument(name) => (
                400,
                "E011002",
                "Missing arguments",
                format!("The {name} argument is required"),
                None,
            ),
            Error::InvalidArgument(name) => (
                400,
                "E011003",
                "Invalid argument",
                format!("The {name} argument is invalid"),
                None,
            ),
            Error::Unauthorized => (
                401,
                "E011003",
                "Invalid argument",
                "The Authorization header must be 'Bearer <projectId>' with a project served here".into(),
                None,
            ),
            Error::ManagementKeyRefused => (
                401,
                "E011003",
                "Invalid argument",
                "The Authorization header must be 'Bearer <projectId>:<managementKey>' with a management key of that project".into(),
                None,
            ),
            Error::InvalidRefreshToken => (
                401,
                "E061004",
                "Invalid refresh token",
                "The refresh token is invalid or expired".into(),
                None,
            ),
            Error::SessionRevoked => (
                401,
                "E064001",
                "Session revoked",
                "The session was signed out; sign in again".into(),
                None,
            ),
            // This service's own code: Descope has none for "sign in again first".
            Error::StaleSession => (
                401,
                "E064002",
                "Fresh sign-in required",
                "Changing the key needs a recent sign-in: verify a code (or step up) and use the refresh token it returns"
                    .into(),
                None,
            ),
            // This service's own code: Descope names none for a disabled user.
            Error::UserDisabled => (
                403,
                "E064003",
                "User disabled",
                "The user is disabled; an administrator can enable them again".into(),
                None,
            ),
            Error::AlreadyRegistered => (
                409,
                "E062107",
                "User already exists",
                "A user with this loginId is already registered".into(),
                None,
            ),
            Error::UserNotFound => (404, "E062108", "User not found", "Cannot find user".into(), None),
            Error::WrongCode => (
                401,
                "E061102",
                "Failed to verify TOTP code",
                "The code is wrong or expired".into(),
                None,
            ),
            // Descope names no code for a refused magic-link token: the contract's E061102.
            Error::LinkRefused => (
                401,
                "E061102",
                "Failed to verify magic link token",
                "The link is wrong, used or expired".into(),
                None,
            ),
            Error::LockedOut { retry_after } => (
                429,
                "E061103",
                "Too many attempts",
                "Too many wrong codes; try again later".into(),
                Some(*retry_after),
            ),
            Error::MethodNotAllowed => (
                405,
                "E011001",
                "Bad request",
                "Method not allowed on this route".into(),
                None,
            ),
            Error::UnknownRoute => (404, "E011001", "Bad request", "No such route".into(), None),
            Error::Unavailable => (
                503,
                "E010001",
                "Service unavailable",
                "The service is temporarily unavailable; retry shortly".into(),
                Some(UNAVAILABLE_RETRY_AFTER),
            ),
            Error::Internal => (
                500,
                "E010000",
                "Internal error",
                "An unexpected error occurred".into(),
                None,
            ),
        };
        Reply {
            status,
            code,
            description,
            message,
            retry_after,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reply = self.reply();
        write!(f, "{} {}", reply.code, reply.description)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_follow_the_contract() {
        let table = [
            (Error::MalformedBody, 400, "E011001"),
            (Error::BodyTooLarge, 413, "E011001"),
            (Error::MissingArgument("loginId"), 400, "E011002"),
            (Error::InvalidArgument("code"), 400, "E011003"),
            (Error::Unauthorized, 401, "E011003"),
            (Error::ManagementKeyRefused, 401, "E011003"),
            (Error::InvalidRefreshToken, 401, "E061004"),
            (Error::SessionRevoked, 401, "E064001"),
            (Error::StaleSession, 401, "E064002"),
            (Error::UserDisabled, 403, "E064003"),
            (Error::AlreadyRegistered, 409, "E062107"),
            (Error::UserNotFound, 404, "E062108"),
            (Error::WrongCode, 401, "E061102"),
            (Error::LinkRefused, 401, "E061102"),
            (Error::LockedOut { retry_after: 7 }, 429, "E061103"),
            (Error::MethodNotAllowed, 405, "E011001"),
            (Error::UnknownRoute, 404, "E011001"),
            (Error::Unavailable, 503, "E010001"),
            (Error::Internal, 500, "E010000"),
        ];
        for (error, status, code) in table {
            let reply = error.reply();
            assert_eq!((reply.status, reply.code), (status, code), "{error:?}");
        }
        assert_eq!(Error::LockedOut { retry_after: 7 }.reply().retry_after, Some(7));
        assert_eq!(Error::Unavailable.reply().retry_after, Some(UNAVAILABLE_RETRY_AFTER));
        assert_eq!(Error::WrongCode.reply().retry_after, None);
    }
}
