//! The deletions read of one resource type, kept from holding up its search: a type whose
//! server lacks type-level history, or whose history read fails, is searched all the same,
//! and the problem is shown as that type's warning until a later round reads history again.
//!
//! Nothing is lost meanwhile: a failed read commits nothing, so the deletions cursor stays
//! where it was, and the next round reads from there.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{history, metadata, Ctx, FhirPage, FhirPoller};
use crate::config::FhirResource;
use crate::ehr::EhrError;
use crate::model::FhirCursor;

/// Per resource type, the lasting condition of its deletions read, if any: what status
/// shows under the connection's `warnings`.
#[derive(Debug, Default)]
pub(super) struct TypeWarnings {
    by_type: RefCell<BTreeMap<String, String>>,
}

impl TypeWarnings {
    pub(super) fn set(&self, type_name: &str, message: String) {
        self.by_type
            .borrow_mut()
            .insert(type_name.to_owned(), message);
    }

    pub(super) fn clear(&self, type_name: &str) {
        self.by_type.borrow_mut().remove(type_name);
    }

    /// Every current warning, by type name.
    pub(super) fn list(&self) -> Vec<String> {
        self.by_type.borrow().values().cloned().collect()
    }
}

impl FhirPoller {
    /// Reads one history page of `resource`'s deletions from `cursor`; `None` when there is
    /// none to read this round (no type-level history, or a failure that is the type's own),
    /// so the type's search is next. An EHR failure of the whole connection (see
    /// [`fails_the_connection`]) is the poll's error. The type's warning is cleared once the
    /// page is committed ([`FhirPoller::committed`]): a page that is not is read again.
    pub(super) async fn deletions(
        &self,
        ctx: &Ctx<'_>,
        resource: &FhirResource,
        cursor: FhirCursor,
    ) -> Result<Option<FhirPage>, EhrError> {
        let type_name = &resource.type_name;
        let read = async {
            if !self.supports_history(ctx, type_name).await? {
                self.warnings
                    .set(type_name, metadata::unsupported_message(type_name));
                return Ok(None);
            }
            Ok(Some(history::deletions(ctx, resource, cursor).await?))
        };
        match read.await {
            Err(err) if !fails_the_connection(&err) => {
                let message = format!(
                    "deletions of {type_name} could not be read ({err}): its search goes on, \
                     and the read is retried next round"
                );
                self.warnings.set(type_name, message);
                Ok(None)
            }
            other => other,
        }
    }

    /// Asks `/metadata` once per type whether `{type}/_history` is supported (a failed ask
    /// is asked again next round).
    async fn supports_history(&self, ctx: &Ctx<'_>, type_name: &str) -> Result<bool, EhrError> {
        if let Some(known) = self.history.borrow().get(type_name) {
            return Ok(*known);
        }
        let statement = metadata::read(ctx.client).await?;
        let supported = metadata::supports_type_history(&statement, type_name);
        self.history
            .borrow_mut()
            .insert(type_name.to_owned(), supported);
        Ok(supported)
    }
}

/// Whether a failed deletions read must fail the poll rather than let the type's search go
/// on: the token endpoint refused (every request would fail), or the server asked Courier to
/// slow down (a search at once would ignore that). Anything else (a history that errors,
/// times out, answers a wrong shape or links elsewhere) is the type's own problem.
fn fails_the_connection(err: &EhrError) -> bool {
    matches!(
        err,
        EhrError::Auth { .. } | EhrError::Status { status: 429, .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auth_and_rate_limits_fail_the_connection() {
        let status = |status| EhrError::Status {
            path: "/Appointment/_history".into(),
            status,
            retry_after: None,
        };
        assert!(fails_the_connection(&status(429)));
        for code in [400, 404, 500, 503] {
            assert!(!fails_the_connection(&status(code)), "{code}");
        }
        let shape = EhrError::Shape {
            path: "a next link".into(),
            reason: "the server's next link is not under base_url".into(),
        };
        assert!(!fails_the_connection(&shape));
    }

    #[test]
    fn a_type_has_one_warning_until_it_is_cleared() {
        let warnings = TypeWarnings::default();
        warnings.set("Patient", "p".into());
        warnings.set("Appointment", "a1".into());
        warnings.set("Appointment", "a2".into());
        assert_eq!(warnings.list(), ["a2", "p"]);
        warnings.clear("Appointment");
        assert_eq!(warnings.list(), ["p"]);
    }
}
