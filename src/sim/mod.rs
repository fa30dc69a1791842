//! A simulated EHR and webhook receiver on loopback, for `courier demo` and the tests.
