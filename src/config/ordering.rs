//! A destination's delivery behaviour: per-key ordering and when it counts as failing.

use super::locate::KeyPath;
use super::raw::RawDestination;
use super::validate::Checker;
use super::{DeliveryOrder, DestinationConfig};

/// Consecutive failed attempts after which a destination is failing, unless configured: a
/// few, so a down receiver stops costing retries quickly, yet more than one flaky answer.
const DEFAULT_FAILURE_THRESHOLD: i64 = 5;
/// A larger threshold would let a down destination fill memory before Courier notices.
const FAILURE_THRESHOLD_AT_MOST: u32 = 100_000;

/// The keys of a destination table that shape delivery, checked.
pub(super) struct DeliveryBehaviour {
    pub order: DeliveryOrder,
    pub failure_threshold: u32,
}

/// Reads `ordering`, `ordering_key` and `failure_threshold`.
pub(super) fn behaviour(
    check: &mut Checker<'_>,
    path: &KeyPath,
    raw: &RawDestination,
) -> Option<DeliveryBehaviour> {
    let order = order(check, path, raw);
    let failure_threshold = check.count(
        &path.key("failure_threshold"),
        raw.failure_threshold,
        DEFAULT_FAILURE_THRESHOLD,
        FAILURE_THRESHOLD_AT_MOST,
    );
    Some(DeliveryBehaviour {
        order: order?,
        failure_threshold: u32::try_from(failure_threshold?).ok()?,
    })
}

fn order(check: &mut Checker<'_>, path: &KeyPath, raw: &RawDestination) -> Option<DeliveryOrder> {
    let key_path = path.key("ordering_key");
    if let Some(pointer) = &raw.ordering_key {
        check.pointer(&key_path, pointer);
    }
    match raw.ordering.as_deref().unwrap_or("per_key") {
        "per_key" => Some(DeliveryOrder::PerKey {
            key_pointer: raw.ordering_key.clone().filter(|p| !p.is_empty()),
        }),
        "none" => {
            if raw.ordering_key.is_some() {
                check.report(&key_path, "only applies with ordering = \"per_key\"");
            }
            Some(DeliveryOrder::None)
        }
        other => {
            let message = format!("must be \"per_key\" or \"none\" (got \"{other}\")");
            check.report(&path.key("ordering"), message);
            None
        }
    }
}

impl DestinationConfig {
    /// Whether notifications sharing a key go out one at a time, in sequence order.
    pub fn per_key(&self) -> bool {
        matches!(self.order, DeliveryOrder::PerKey { .. })
    }
}
