//! The FHIR load EHR's reading of search parameters (its pages, read back with Courier's own
//! Bundle reader, are tested on Courier's side: `tests/it/load_fhir_search.rs`).

use super::*;

fn query(text: &str) -> Search {
    search_query(text).unwrap()
}

#[test]
fn search_parameters_are_read_and_unsupported_ones_refused() {
    let search = query("_lastUpdated=gt2020-01-01T00:00:00.002Z&_lastUpdated=lt2020-01-01T00:00:01Z&_count=999999&status=booked");
    assert_eq!(
        search,
        Search {
            after: Some(Bound {
                at_us: BACKLOG_EPOCH_US + 2_000,
                inclusive: false
            }),
            before: Some(Bound {
                at_us: BACKLOG_EPOCH_US + 1_000_000,
                inclusive: false
            }),
            count: MAX_LIMIT,
        }
    );
    assert_eq!(query("").count, DEFAULT_COUNT);
    assert_eq!(search_query("_lastUpdated=eq2020-01-01T00:00:00Z"), None);
    assert_eq!(search_query("_lastUpdated=ge2020-01-01"), None);
    assert_eq!(search_query("_sort=-_lastUpdated"), None);
    assert_eq!(search_query("_count=many"), None);
}
