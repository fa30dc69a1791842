//! What the receiver reads of a notification body: when the change behind it was created (a
//! changes-feed notification's `data.change.created_us`, or the `created_us` extension of a
//! FHIR notification's focus resource in `data.resources`, see [`crate::load::fhir`]) and its
//! connection (`data.connection`).

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::load::fhir::CREATED_US_URL;

/// What the receiver counts by, read from one notification body.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Facts {
    /// When the change behind the notification was created (µs since the epoch), if the body
    /// says.
    pub created_us: Option<u64>,
    /// The connection it came from, if the body says.
    pub connection: Option<String>,
}

/// The [`Facts`] of the notification `body`; none for a body that is not a notification.
pub(super) fn read(body: &[u8]) -> Facts {
    serde_json::from_slice::<Body>(body)
        .map(|b| Facts {
            created_us: b.data.created_us(),
            connection: b.data.connection,
        })
        .unwrap_or_default()
}

/// What the receiver reads of a notification body; serde skips the rest.
#[derive(Deserialize)]
struct Body {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    /// A changes-feed notification's item.
    change: Option<Change>,
    /// A FHIR notification's resources, searched for the focus's `created_us` extension.
    #[serde(default)]
    resources: CreatedExtension,
    /// The connection, which every flavour names.
    connection: Option<String>,
}

#[derive(Deserialize)]
struct Change {
    created_us: Option<u64>,
}

impl Data {
    /// When the change was created, wherever this notification's flavour carries it.
    fn created_us(&self) -> Option<u64> {
        self.change
            .as_ref()
            .and_then(|change| change.created_us)
            .or(self.resources.0)
    }
}

/// The value of the first extension with url [`CREATED_US_URL`] anywhere in a JSON value (the
/// load EHR's FHIR appointments carry one); read while serde walks the value, so a FHIR
/// notification costs no more to count than a changes-feed one.
#[derive(Debug, Default, PartialEq)]
struct CreatedExtension(Option<u64>);

/// One member of an `extension` array.
#[derive(Deserialize)]
struct Extension {
    url: Option<String>,
    #[serde(rename = "valueDecimal")]
    value: Option<serde_json::Number>,
}

impl<'de> Deserialize<'de> for CreatedExtension {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FindCreated)
    }
}

/// Walks any JSON value for [`CreatedExtension`].
struct FindCreated;

impl<'de> Visitor<'de> for FindCreated {
    type Value = CreatedExtension;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if found.is_some() {
                map.next_value::<IgnoredAny>()?;
            } else if name == "extension" {
                let extensions: Vec<Extension> = map.next_value()?;
                found = extensions
                    .iter()
                    .find(|e| e.url.as_deref() == Some(CREATED_US_URL))
                    .and_then(|e| e.value.as_ref()?.as_u64());
            } else {
                found = map.next_value::<CreatedExtension>()?.0;
            }
        }
        Ok(CreatedExtension(found))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(item) = seq.next_element::<CreatedExtension>()? {
            found = found.or(item.0);
        }
        Ok(CreatedExtension(found))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(CreatedExtension(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(CreatedExtension(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(CreatedExtension(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(CreatedExtension(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(CreatedExtension(None))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(CreatedExtension(None))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn created(body: serde_json::Value) -> Option<u64> {
        read(body.to_string().as_bytes()).created_us
    }

    #[test]
    fn created_us_is_read_from_a_feed_item_or_a_fhir_focus_resource() {
        let feed = json!({"id": "msg_1", "data": {"change": {"seq": 1, "created_us": 7},
            "connection": "c00001",
            "resources": {"appointment": {"id": "a"}, "patient": null}}});
        assert_eq!(
            read(feed.to_string().as_bytes()),
            Facts {
                created_us: Some(7),
                connection: Some("c00001".into())
            }
        );
        let appointment = json!({"resourceType": "Appointment", "id": "a-1",
            "extension": [{"url": "urn:other", "valueDecimal": 1.5},
                          {"url": CREATED_US_URL, "valueDecimal": 1_767_225_600_000_123u64}],
            "participant": [{"actor": {"reference": "Patient/p-2"}}]});
        let fhir = json!({"id": "msg_2", "type": "Appointment.new", "data": {
            "focus": "Appointment/a-1", "changed_elements": ["status"],
            "resources": {"Patient": [{"id": "p-2", "extension": []}, {"id": "p-3"}],
                          "Appointment": appointment}}});
        assert_eq!(created(fhir), Some(1_767_225_600_000_123));
        let none = json!({"data": {"focus": "Patient/p", "resources": {"Patient": {"id": "p"}}}});
        assert_eq!(created(none), None);
    }
}
