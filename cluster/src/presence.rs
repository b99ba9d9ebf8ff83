//! One node's presence as the broker holds it: what changed since the last write
//! (sans-IO, so the diff is tested without a broker).

use std::collections::{BTreeMap, BTreeSet};

use crate::broker::PresenceWrite;

/// The users and group sizes of one node at one moment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) users: BTreeSet<String>,
    pub(crate) groups: BTreeMap<String, usize>,
}

impl Snapshot {
    pub(crate) fn of<M: Send + 'static>(registry: &packwire_net::Registry<M>) -> Self {
        Snapshot {
            users: registry.users().into_iter().map(|(u, _)| u).collect(),
            groups: registry
                .groups_stats()
                .into_iter()
                .map(|(g, s)| (g, s.connections as usize))
                .collect(),
        }
    }

    /// The change from `self` to `next`.
    pub(crate) fn diff(&self, next: &Snapshot) -> PresenceWrite {
        let mut groups: Vec<(String, usize)> = next
            .groups
            .iter()
            .filter(|(g, n)| self.groups.get(*g) != Some(n))
            .map(|(g, n)| (g.clone(), *n))
            .collect();
        groups.extend(
            self.groups
                .keys()
                .filter(|g| !next.groups.contains_key(*g))
                .map(|g| (g.clone(), 0)),
        );
        PresenceWrite {
            full: false,
            online: next.users.difference(&self.users).cloned().collect(),
            offline: self.users.difference(&next.users).cloned().collect(),
            groups,
        }
    }

    /// Everything, to replace what the broker holds.
    pub(crate) fn full(&self) -> PresenceWrite {
        PresenceWrite {
            full: true,
            online: self.users.iter().cloned().collect(),
            offline: Vec::new(),
            groups: self.groups.iter().map(|(g, n)| (g.clone(), *n)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(users: &[&str], groups: &[(&str, usize)]) -> Snapshot {
        Snapshot {
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|(g, n)| (g.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn the_diff_names_what_came_what_went_and_changed_counts() {
        let a = snap(&["alice", "bob"], &[("room", 2), ("old", 1)]);
        let b = snap(&["bob", "carol"], &[("room", 3), ("new", 1)]);
        let w = a.diff(&b);
        assert!(!w.full);
        assert_eq!(w.online, ["carol"]);
        assert_eq!(w.offline, ["alice"]);
        assert_eq!(
            w.groups,
            [("new".into(), 1), ("room".into(), 3), ("old".into(), 0)]
        );
        assert_eq!(b.diff(&b), PresenceWrite::default());
        let f = b.full();
        assert!(f.full);
        assert_eq!(f.online, ["bob", "carol"]);
        assert_eq!(f.groups, [("new".into(), 1), ("room".into(), 3)]);
    }
}
