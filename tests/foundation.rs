//! Foundation end-to-end tests.
