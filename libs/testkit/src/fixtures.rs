//! Small fixtures every test needs.

use std::{fmt::Debug, sync::Arc};

use axv_auth::{Caller, Role};
use axv_platform::ErrorCode;
use tonic::Request;

/// The password test accounts sign up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// A valid Korean business registration number made from `seed` (the checksum digit computed).
pub fn business_number(seed: u32) -> String {
    axv_platform::business_number::made_up(seed)
}

/// A verified caller `id` in `role`, for calling a service's use cases in-process.
pub fn caller(id: &str, role: Role) -> Caller {
    Caller {
        subject: id.to_owned(),
        role,
        company_ids: vec![],
        token_id: String::new(),
        expires_at: 0,
        issuer: "test".into(),
        raw_token: Arc::from(""),
    }
}

/// `message` with `token` as its bearer.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    axv_auth::attach_bearer(&mut request, token).unwrap();
    request
}

/// That `result` was refused with `code` (a gRPC status or a service's error); the refusal,
/// for its message.
#[track_caller]
pub fn assert_refused<T: Debug, E: Debug>(result: Result<T, E>, code: ErrorCode) -> E
where
    for<'a> &'a E: Into<ErrorCode>,
{
    match result {
        Ok(value) => panic!("expected {code:?}, got {value:?}"),
        Err(error) => {
            assert_eq!((&error).into(), code, "{error:?}");
            error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_numbers_pass_the_checksum() {
        for seed in [0, 1, 17, 4301, 799_999_999] {
            let number = business_number(seed);
            assert!(
                axv_platform::business_number::check(&number).is_ok(),
                "{number}"
            );
        }
    }

    #[test]
    fn a_refusal_is_told_by_its_code() {
        let refused: Result<(), tonic::Status> = Err(tonic::Status::not_found("pilot"));
        let status = assert_refused(refused, ErrorCode::NotFound);
        assert_eq!(status.message(), "pilot");
    }

    #[test]
    #[should_panic(expected = "expected NotFound")]
    fn an_answer_is_not_a_refusal() {
        assert_refused(Ok::<_, tonic::Status>(()), ErrorCode::NotFound);
    }
}
