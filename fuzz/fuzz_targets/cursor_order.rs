//! `CursorValue::compare` must be a total order (a total preorder: distinct texts may name
//! the same position), or the cursor can move backwards: a fold that keeps "the larger"
//! position ends behind where it started when the order has a cycle.
#![no_main]

use std::cmp::Ordering;

use courier::model::CursorValue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|values: (String, String, String)| {
    let (a, b, c) = (
        CursorValue(values.0),
        CursorValue(values.1),
        CursorValue(values.2),
    );
    for x in [&a, &b, &c] {
        assert_eq!(x.compare(x), Ordering::Equal, "reflexive: {x}");
    }
    for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
        assert_eq!(
            x.compare(y),
            y.compare(x).reverse(),
            "antisymmetric: {x} {y}"
        );
    }
    // Transitivity of <= over every ordering of the three values.
    for (x, y, z) in [
        (&a, &b, &c),
        (&a, &c, &b),
        (&b, &a, &c),
        (&b, &c, &a),
        (&c, &a, &b),
        (&c, &b, &a),
    ] {
        let xy = x.compare(y);
        let yz = y.compare(z);
        if xy != Ordering::Greater && yz != Ordering::Greater {
            let xz = x.compare(z);
            assert_ne!(xz, Ordering::Greater, "transitive: {x} <= {y} <= {z}");
            if xy == Ordering::Equal && yz == Ordering::Equal {
                assert_eq!(xz, Ordering::Equal, "transitive equality: {x} = {y} = {z}");
            }
            if xy == Ordering::Less || yz == Ordering::Less {
                assert_eq!(xz, Ordering::Less, "transitive: {x} < {z} via {y}");
            }
        }
    }
});
