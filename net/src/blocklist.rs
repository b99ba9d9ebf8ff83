//! The block list checked on accept.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use packwire_core::ConfigError;

/// Addresses whose connections are closed on accept, before a byte is read: exact
/// addresses or CIDR ranges, each forever or until an expiry. A cheap handle: clones share
/// the list, so it can be changed while the server runs.
///
/// ```
/// use std::time::Duration;
/// use packwire_net::BlockList;
///
/// let list = BlockList::default();
/// list.block_cidr("10.0.0.0/8").unwrap();
/// list.block_for("192.0.2.7".parse().unwrap(), Duration::from_secs(60));
/// assert!(list.is_blocked("10.1.2.3".parse().unwrap()));
/// assert!(list.is_blocked("192.0.2.7".parse().unwrap()));
/// assert!(!list.is_blocked("192.0.2.8".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    rules: Arc<std::sync::Mutex<Vec<Rule>>>,
}

/// A network, its prefix length, and when the rule expires.
type Rule = (IpAddr, u8, Option<tokio::time::Instant>);

fn prefix_matches(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

impl BlockList {
    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Blocks one address for good.
    pub fn block(&self, ip: IpAddr) {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        self.rules().push((ip, bits, None));
    }

    /// Blocks one address for `duration`.
    pub fn block_for(&self, ip: IpAddr, duration: Duration) {
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        self.rules()
            .push((ip, bits, Some(tokio::time::Instant::now() + duration)));
    }

    /// Blocks a CIDR range such as `10.0.0.0/8` or `2001:db8::/32`.
    ///
    /// # Errors
    /// A [`ConfigError`] when `cidr` is not an address, a slash and a prefix length that
    /// fits it.
    pub fn block_cidr(&self, cidr: &str) -> Result<(), ConfigError> {
        let (addr, bits) = cidr
            .split_once('/')
            .ok_or_else(|| ConfigError::new(format!("{cidr:?} is not address/prefix")))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| ConfigError::new(format!("{addr:?} is not an IP address")))?;
        let bits: u8 = bits
            .parse()
            .map_err(|_| ConfigError::new(format!("{bits:?} is not a prefix length")))?;
        if bits > if ip.is_ipv4() { 32 } else { 128 } {
            return Err(ConfigError::new(format!("/{bits} is too long for {ip}")));
        }
        self.rules().push((ip, bits, None));
        Ok(())
    }

    /// Removes every rule for exactly this address.
    pub fn unblock(&self, ip: IpAddr) {
        self.rules().retain(|(n, _, _)| *n != ip);
    }

    /// Whether `ip` is blocked now (expired rules are dropped on the way).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = tokio::time::Instant::now();
        let mut rules = self.rules();
        rules.retain(|(_, _, exp)| exp.is_none_or(|e| e > now));
        rules.iter().any(|(n, p, _)| prefix_matches(*n, *p, ip))
    }
}
