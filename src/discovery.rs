//! Discovered accounts: what each parent's discovery collector found (on the scheduler's
//! [`DiscoveryBoard`]) expanded into accounts.
//!
//! A parent (`discover:`) runs only the discovery collector; each customer it keeps becomes
//! an account named `<parent>/<CustSpaceId>` (stable when an instance is renamed) with the
//! parent's endpoint, credentials, signature version, IsvCode file and `collectors:`, and
//! its instance's names in `chatapp_account_info`. With `--total-shards`, every shard runs
//! every parent's discovery and keeps the customers whose name hashes to it: N processes
//! split thousands of customers with no overlap and no gap, and a customer moves only when
//! the shard count changes.
//!
//! The supervisor applies an expansion as it applies a reload: added customers start, gone
//! ones stop and take their series with them, the others run undisturbed. A failed
//! discovery round leaves the board as it was, so the last good round's customers stay.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::collect::published::Discovered;
pub use crate::collect::published::DiscoveryBoard;
use crate::config::{AccountSettings, Origin, Settings, shard_of};

/// The accounts to run: the configured ones (parents included: they run discovery), then
/// each parent's customers that belong to this shard, in the parent's order. A customer
/// whose name a configured account already has is left out (the configured one wins).
/// Also returns how many customers each parent contributed.
pub fn expand(
    settings: &Settings,
    found: &BTreeMap<String, Arc<Discovered>>,
) -> (Vec<AccountSettings>, BTreeMap<String, usize>) {
    let mut accounts = settings.accounts.clone();
    let mut kept = BTreeMap::new();
    for parent in &settings.accounts {
        let Some(children) = &parent.children else {
            continue;
        };
        let mut n = 0;
        for instance in found.get(&parent.name).map_or(&[][..], |d| &d.instances) {
            let name = format!("{}/{}", parent.name, instance.cust_space_id);
            if shard_of(&name, settings.total_shards) != settings.shard
                || settings.accounts.iter().any(|a| a.name == name)
            {
                continue;
            }
            accounts.push(AccountSettings {
                name,
                cust_space_id: Some(instance.cust_space_id.clone()),
                collectors: children.clone(),
                children: None,
                origin: Some(Origin {
                    parent: parent.name.clone(),
                    instance_id: instance.instance_id.clone(),
                    instance_name: instance.instance_name.clone(),
                }),
                ..parent.clone()
            });
            n += 1;
        }
        kept.insert(parent.name.clone(), n);
    }
    (accounts, kept)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::collect::published::FoundInstance;

    fn settings(shard: u32, total: u32) -> Settings {
        let cli = crate::cli::Cli::try_parse_from(["x"]).unwrap();
        let env = |k: &str| match k {
            crate::credentials::ENV_ACCESS_KEY_ID => Some("LTAI5tExpandTestKey".into()),
            crate::credentials::ENV_ACCESS_KEY_SECRET => Some("unused".into()),
            _ => None,
        };
        let mut s = crate::config::resolve(&cli, Default::default(), &env).unwrap();
        let mut parent = s.accounts[0].clone();
        parent.name = "isv".into();
        parent.children = Some(s.collectors.clone());
        parent.collectors = Vec::new();
        s.accounts = vec![parent];
        s.shard = shard;
        s.total_shards = total;
        s
    }

    fn found(n: usize) -> BTreeMap<String, Arc<Discovered>> {
        let instances = (0..n)
            .map(|i| FoundInstance {
                cust_space_id: format!("29340{i:05}"),
                instance_id: format!("cams-{i}"),
                instance_name: format!("shop-{i}"),
                state: String::new(),
            })
            .collect();
        BTreeMap::from([("isv".to_owned(), Arc::new(Discovered { instances }))])
    }

    #[test]
    fn customers_become_accounts_that_inherit_from_the_parent() {
        let s = settings(0, 1);
        let (accounts, kept) = expand(&s, &found(2));
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["isv", "isv/2934000000", "isv/2934000001"]);
        assert_eq!(kept["isv"], 2);
        let child = &accounts[1];
        assert_eq!(child.cust_space_id.as_deref(), Some("2934000000"));
        assert_eq!(child.collectors, s.collectors);
        assert_eq!(child.endpoint, s.accounts[0].endpoint);
        assert!(child.children.is_none());
        let origin = child.origin.as_ref().unwrap();
        assert_eq!(
            (origin.parent.as_str(), origin.instance_name.as_str()),
            ("isv", "shop-0")
        );
    }

    #[test]
    fn shards_split_the_customers_with_no_overlap_and_no_gap() {
        let found = found(300);
        let mut seen = BTreeMap::new();
        for shard in 0..3 {
            let (accounts, kept) = expand(&settings(shard, 3), &found);
            assert_eq!(accounts[0].name, "isv", "every shard runs the parent");
            assert_eq!(kept["isv"], accounts.len() - 1);
            assert!(kept["isv"] > 60, "roughly a third each: {}", kept["isv"]);
            for a in &accounts[1..] {
                assert_eq!(seen.insert(a.name.clone(), shard), None, "{} twice", a.name);
            }
        }
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn the_board_wakes_only_on_a_change() {
        let board = DiscoveryBoard::default();
        let mut rx = board.subscribe();
        board.publish("isv", found(2)["isv"].clone());
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        board.publish("isv", found(2)["isv"].clone());
        assert!(!rx.has_changed().unwrap(), "the same customers");
        board.publish("isv", found(3)["isv"].clone());
        assert!(rx.has_changed().unwrap());
        board.retain(&[]);
        assert!(board.snapshot().is_empty());
    }
}
