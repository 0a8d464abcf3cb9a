//! Which addresses the bridge may contact on behalf of remote users (`limits.fetch_private_addresses`).
//!
//! A remote user who can make the bridge fetch a URL could otherwise point it at the bridge's
//! own machine or network (the homeserver's admin API, a cloud metadata service, a database).
//! Unless the operator allows it, only globally routable unicast addresses are contacted;
//! IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the
//! address they embed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address policy for fetches made on behalf of remote users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressPolicy {
    allow_private: bool,
}

impl AddressPolicy {
    /// Only public addresses (the default).
    pub fn public_only() -> Self {
        Self {
            allow_private: false,
        }
    }

    /// Any address (`fetch_private_addresses: true`, for closed networks and tests).
    pub fn allow_all() -> Self {
        Self {
            allow_private: true,
        }
    }

    /// The policy `limits:` asks for.
    pub fn from_limits(limits: &crate::config::LimitsConfig) -> Self {
        Self {
            allow_private: limits.fetch_private_addresses,
        }
    }

    /// Whether `ip` may be contacted.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || classify(ip).is_none()
    }
}

/// Why an address is not public, or `None` when it is.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        (0, _) => "unspecified (0.0.0.0/8)",
        (127, _) => "loopback",
        (10, _) | (192, 168) => "private (RFC 1918)",
        (172, 16..=31) => "private (RFC 1918)",
        (100, 64..=127) => "shared address space (CGNAT, 100.64.0.0/10)",
        (169, 254) => "link-local",
        (224..=239, _) => "multicast",
        (240..=255, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    Some(match first {
        _ if first & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        _ if first & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        _ if first & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        _ if first & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), the deprecated
/// IPv4-compatible form (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(low(hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        !AddressPolicy::public_only().permits(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "11.0.0.1",
            "223.255.255.255",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
        for ip in [
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "fe00::1",
            "fbff::1",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:192.168.0.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"] {
            assert!(!refused(ip), "{ip} is public");
        }
    }

    #[test]
    fn the_operator_may_allow_everything() {
        let all = AddressPolicy::allow_all();
        for ip in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(all.permits(ip.parse().unwrap()), "{ip}");
        }
        let limits = crate::config::LimitsConfig::default();
        assert_eq!(
            AddressPolicy::from_limits(&limits),
            AddressPolicy::public_only()
        );
    }

    #[test]
    fn reasons_are_named() {
        assert_eq!(classify("127.0.0.1".parse().unwrap()), Some("loopback"));
        assert_eq!(
            classify("fd00::1".parse().unwrap()),
            Some("unique local (fc00::/7)")
        );
        assert_eq!(classify("8.8.8.8".parse().unwrap()), None);
    }
}
