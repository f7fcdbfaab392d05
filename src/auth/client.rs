//! The client's address, as the sign-in and registration limits count it: the socket's, or,
//! when the socket is one of `server.trusted_proxies`, the nearest address in
//! `X-Forwarded-For` that is not itself a trusted proxy. From anyone else the header is
//! ignored, so a client cannot choose the address it is counted under.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::Settings;
use crate::error::AppError;

/// Where a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The rule: the socket's address unless it is a trusted proxy; then walk `X-Forwarded-For`
/// from the right (the entries proxies appended) past trusted proxies.
pub fn client_address(socket: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&socket) {
        return socket;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|entry| entry.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(socket)
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Served without connection info (an in-process call): one shared, unspecified address.
        let socket = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let settings = Arc::<Settings>::from_ref(state);
        Ok(Self(client_address(
            socket,
            &parts.headers,
            &settings.server.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            xff.parse().unwrap_or_else(|e| panic!("{e}")),
        );
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        // From the proxy: the nearest untrusted address, not a spoofed leftmost one.
        let h = headers("1.2.3.4, 203.0.113.9, 10.0.0.2");
        assert_eq!(client_address(proxy, &h, &trusted), ip("203.0.113.9"));
        // From anyone else: the header is ignored.
        assert_eq!(
            client_address(ip("198.51.100.7"), &h, &trusted),
            ip("198.51.100.7")
        );
        // Garbage from the proxy: the proxy's own address.
        assert_eq!(
            client_address(proxy, &headers("not-an-ip"), &trusted),
            proxy
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
