//! One HTTP call with `ureq` (blocking, run on the delivery threads), classified for retrying.
//!
//! Why `ureq`: it is already in the workspace (with rustls), a webhook or output is a handful of calls a
//! minute, and each endpoint has its own thread so a slow one never holds up the others or the async
//! runtime. No hyper or reqwest is in the tree, and adding one would mean a second HTTP stack.

use std::time::Duration;

/// How one call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Worth another try: connection error, timeout, 5xx, 408 or 429 (with the server's `Retry-After`).
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Not worth another try: other 4xx, 3xx (redirects are not followed), a bad request.
    Fail(String),
}

/// An agent with one timeout for the whole call, no redirects, and status codes returned as answers.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("vigil/{}", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// Makes one call. Errors never contain the URL (it may carry tokens).
pub(crate) fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Outcome {
    let mut builder = ureq::http::Request::builder()
        .method(method.to_ascii_uppercase().as_str())
        .uri(url);
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = match builder.body(body.to_vec()) {
        Ok(r) => r,
        Err(e) => return Outcome::Fail(format!("bad request: {e}")),
    };
    match agent.run(request) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // Read (a little of) the answer so the connection can be reused.
            let _ = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_vec();
            match status {
                200..=299 => Outcome::Delivered(status),
                408 | 429 | 500..=599 => Outcome::Retry {
                    error: format!("HTTP {status}"),
                    retry_after,
                },
                300..=399 => Outcome::Fail(format!(
                    "HTTP {status}: redirects are not followed; configure the final URL"
                )),
                _ => Outcome::Fail(format!("HTTP {status}")),
            }
        }
        Err(e) => match e {
            ureq::Error::BadUri(_) => Outcome::Fail("bad URL".into()),
            ureq::Error::Http(_) => Outcome::Fail("bad request".into()),
            other => Outcome::Retry {
                error: other.to_string(),
                retry_after: None,
            },
        },
    }
}

/// Wait before retry number `retry` (1-based): `first`, doubling, at most `max`; at least the server's
/// `Retry-After` (also capped at `max`).
pub(crate) fn backoff(
    retry: u32,
    first: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let factor = 1u32 << (retry.saturating_sub(1)).min(20);
    let wait = first.saturating_mul(factor).min(max);
    match retry_after {
        Some(ra) => wait.max(ra.min(max)),
        None => wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(1), s(60), None), s(1));
        assert_eq!(backoff(2, s(1), s(60), None), s(2));
        assert_eq!(backoff(4, s(1), s(60), None), s(8));
        assert_eq!(backoff(10, s(1), s(60), None), s(60));
        assert_eq!(backoff(1, s(1), s(60), Some(s(7))), s(7));
        assert_eq!(backoff(1, s(1), s(60), Some(s(3600))), s(60));
    }

    #[test]
    fn a_closed_port_is_worth_retrying() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = call(
            &agent(Duration::from_secs(2)),
            "POST",
            &format!("http://127.0.0.1:{port}/hook?token=SECRET"),
            &[],
            b"{}",
        );
        match out {
            Outcome::Retry { error, .. } => assert!(!error.contains("SECRET"), "{error}"),
            other => panic!("{other:?}"),
        }
    }
}
