//! `GET /documents/<id>`: a document's bytes, for whoever may read it (the bearer token
//! decides, as for every call; the console relays its visitors' sessions here). Served so that
//! an uploaded file can never act in the platform's origin: always as an attachment, its type
//! as decided from its bytes, `nosniff`, and a CSP that allows nothing.
//!
//! ```sh
//! curl -OJ -H "authorization: Bearer $TOKEN" https://axv.example.kr/documents/<id>
//! ```

use std::net::SocketAddr;

use axum::{
    Extension,
    body::Body,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use axv_auth::MaybeCaller;
use axv_platform::ErrorCode;
use axv_proto::documents::v1 as pb;
use futures::StreamExt as _;

use crate::{
    AppState,
    clients::{UPLOAD_TIMEOUT, request_within},
    context::RequestContext,
    http::{charge_request, client_address, request_error, status_error},
};

/// Nothing an uploaded file holds may run, load or frame anything.
const CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

pub async fn download(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let address = client_address(&headers, connect, state.limits.console_relay_key.as_deref());
    if let Err(refused) = charge_request(&state, caller.as_ref(), &address, false).await {
        return refused;
    }
    if caller.is_none() {
        return request_error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "sign in to download documents",
            false,
        );
    }
    let rc = RequestContext {
        token: caller.as_ref().map(|c| c.raw_token.clone()),
        caller,
        client_address: address,
    };
    let answer = state
        .clients
        .documents_transfers
        .clone()
        .download_document(request_within(
            &rc,
            pb::DownloadDocumentRequest { id },
            UPLOAD_TIMEOUT,
        ))
        .await;
    let mut pieces = match answer {
        Ok(answer) => answer.into_inner(),
        Err(status) => return status_error(&status),
    };
    // The first message is the document's metadata: a refusal comes before it.
    let document = match pieces.message().await {
        Ok(Some(pb::DownloadDocumentChunk {
            document: Some(document),
            ..
        })) => document,
        Ok(_) => {
            return request_error(
                StatusCode::BAD_GATEWAY,
                ErrorCode::Unavailable,
                "the documents service answered without the document",
                false,
            );
        }
        Err(status) => return status_error(&status),
    };
    // A failure after the headers (a checksum mismatch, storage going away) ends the body
    // early, so the client sees a broken download rather than wrong bytes.
    let body = Body::from_stream(pieces.map(|piece| {
        piece
            .map(|p| bytes::Bytes::from(p.data))
            .map_err(|status| std::io::Error::other(status.message().to_owned()))
    }));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&document.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(document.size.max(0)),
    );
    if let Ok(disposition) = HeaderValue::from_str(&content_disposition(&document.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(digest) =
        HeaderValue::from_str(&format!("sha-256={}", sha256_base64(&document.sha256)))
    {
        // RFC 9530: lets a client check the bytes it received.
        headers.insert("repr-digest", digest);
    }
    response
}

/// `attachment` with the name twice (RFC 6266): an ASCII stand-in for old clients, and the
/// real name, Korean included, percent-encoded as RFC 5987 says.
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(file_name, RFC5987_ATTR_CHAR_COMPLEMENT).to_string();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Everything but RFC 5987's `attr-char` is percent-encoded.
const RFC5987_ATTR_CHAR_COMPLEMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');

/// The hex digest as RFC 9530's `:base64:` byte sequence.
fn sha256_base64(hex_digest: &str) -> String {
    use base64::Engine as _;
    let bytes = hex::decode(hex_digest).unwrap_or_default();
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_names_survive_the_disposition_header() {
        assert_eq!(
            content_disposition("사업자등록증 (2026).pdf"),
            "attachment; filename=\"______ (2026).pdf\"; \
             filename*=UTF-8''%EC%82%AC%EC%97%85%EC%9E%90%EB%93%B1%EB%A1%9D%EC%A6%9D%20%282026%29.pdf"
        );
        assert_eq!(
            content_disposition("a\"b\\c.pdf"),
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%5Cc.pdf"
        );
    }

    #[test]
    fn the_digest_header_is_base64() {
        let digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            sha256_base64(digest),
            ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }
}
